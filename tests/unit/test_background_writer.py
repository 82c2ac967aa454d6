"""BackgroundWriter and Sink: one thread per file, bounded reads in flight, early syncs.

The stand-in sinks block in their threads on purpose, so each test fails (by timing out
on an event, or by an assertion) if the writer serialises work or lets batches pile up.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from tokenizer_acquisition.adapters.partial_file import (
    BackgroundWriter,
    Sink,
    Validator,
    sidecar_path,
)
from tokenizer_acquisition.domain.errors import CacheWriteError

WAIT_S = 5.0


def _opened(sink: object) -> asyncio.Future[Sink]:
    opening: asyncio.Future[Sink] = asyncio.get_running_loop().create_future()
    opening.set_result(sink)  # type: ignore[arg-type]
    return opening


class _ThreadRecordingSink:
    """Records which thread hashed and wrote each read, and in what order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, bytes, int]] = []
        self.unsynced = 0
        self.path = Path("recording")

    def digest(self, chunks: Sequence[bytes]) -> None:
        self.events.append(("digest", b"".join(chunks), threading.get_ident()))

    def store(self, chunks: Sequence[bytes], *, final: bool = False) -> None:
        self.events.append(("store", b"".join(chunks), threading.get_ident()))

    def finish(self) -> tuple[str, str | None]:
        self.events.append(("finish", b"", threading.get_ident()))
        return "sha", None

    def close(self) -> None:
        pass


async def test_each_read_is_hashed_and_written_in_order_off_the_loop() -> None:
    """The file's own threads, never the loop: each read is hashed as it arrives and
    written in order, and the writer's thread finishes the file after both."""
    sink = _ThreadRecordingSink()
    writer = BackgroundWriter(lambda: sink)  # type: ignore[arg-type, return-value]
    for part in (b"a", b"b", b"c"):
        await writer.submit([part])
    await asyncio.wait_for(writer.finish(), WAIT_S)
    for kind in ("digest", "store"):
        assert [data for k, data, _ in sink.events if k == kind] == [b"a", b"b", b"c"]
    assert sink.events[-1][0] == "finish"
    threads = {ident for _, _, ident in sink.events}
    assert threading.get_ident() not in threads
    storing = {ident for kind, _, ident in sink.events if kind in ("store", "finish")}
    assert len(storing) == 1


class _GatedSink:
    """``store`` blocks until ``release``; records what reached it, in order."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.stored: list[bytes] = []
        self.digested: list[bytes] = []
        self.unsynced = 0
        self.path = Path("gated")

    def digest(self, chunks: Sequence[bytes]) -> None:
        self.digested.append(b"".join(chunks))

    def store(self, chunks: Sequence[bytes], *, final: bool = False) -> None:
        self.release.wait(WAIT_S)
        self.stored.append(b"".join(chunks))

    def finish(self) -> tuple[str, str | None]:
        return "sha", None

    def close(self) -> None:
        pass


async def test_batches_in_flight_are_bounded_and_kept_in_order() -> None:
    """With writes stuck, submit waits once ``max_in_flight`` batches are outstanding."""
    sink = _GatedSink()
    writer = BackgroundWriter(_opened(sink), max_in_flight=2)
    await writer.submit([b"1"])
    await writer.submit([b"2"])
    third = asyncio.create_task(writer.submit([b"3"]))
    await asyncio.sleep(0.1)
    assert not third.done(), "a third batch was accepted while two were still in flight"
    assert writer.in_flight == 2
    sink.release.set()
    await asyncio.wait_for(third, WAIT_S)
    assert writer.in_flight <= 2
    await writer.submit([b"4", b"5"], final=True)
    await writer.finish()
    assert sink.stored == [b"1", b"2", b"3", b"45"]
    assert sink.digested == [b"1", b"2", b"3", b"45"]


class _FailingSink(_GatedSink):
    """The first ``store`` fails like a full disk; no later batch may be written."""

    def store(self, chunks: Sequence[bytes], *, final: bool = False) -> None:
        if not self.stored:
            self.stored.append(b"<failed>")
            raise OSError(errno.ENOSPC, "No space left on device")
        self.stored.append(b"".join(chunks))


async def test_no_batch_is_written_after_a_failed_write() -> None:
    """A failed write is the writer's error, and later batches never reach the file."""
    sink = _FailingSink()
    writer = BackgroundWriter(_opened(sink), max_in_flight=4)
    await writer.submit([b"1"])
    await writer.submit([b"2"])
    with pytest.raises(CacheWriteError):
        await writer.submit([b"3"])
        await writer.finish()
    await writer.abort()
    assert sink.stored == [b"<failed>"]


def _sink(tmp_path: Path, validator: Validator | None = None) -> Sink:
    return Sink(tmp_path / "part", append=False, total=None, git_sha1=False,
                validator=validator)


class _SyncRecordingSink(Sink):
    """A real partial file whose ``sync`` records each start and signals it."""

    def __init__(self, staged: Path) -> None:
        super().__init__(staged, append=False, total=None, git_sha1=False)
        self.syncs: list[int] = []
        self.synced = threading.Event()

    def sync(self, every: int) -> None:
        self.syncs.append(every)
        self.synced.set()
        super().sync(every)


async def test_syncs_start_while_the_download_goes_on(tmp_path: Path) -> None:
    """Past ``sync_every`` unsynced bytes an fdatasync runs before finish() is called."""
    sink = _SyncRecordingSink(tmp_path / "part")
    writer = BackgroundWriter(_opened(sink), max_in_flight=1, sync_every=1024)
    payload = [bytes([n]) * 1024 for n in range(8)]
    for chunk in payload:
        await writer.submit([chunk])
    await writer.drain()
    started = await asyncio.to_thread(sink.synced.wait, WAIT_S)
    assert started, "no sync started before finish()"
    assert set(sink.syncs) == {1024}
    _, sha256, _ = await writer.finish()
    assert sha256 == hashlib.sha256(b"".join(payload)).hexdigest()
    assert (tmp_path / "part").read_bytes() == b"".join(payload)


async def test_a_failed_early_sync_fails_finish(tmp_path: Path) -> None:
    """The kernel reports a writeback error once: an early sync's failure must surface."""
    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    sink = Sink(tmp_path / "part", append=False, total=None, git_sha1=False, datasync=broken)
    writer = BackgroundWriter(_opened(sink), sync_every=16)
    await writer.submit([b"x" * 64])
    await writer.drain()
    with pytest.raises(CacheWriteError):
        await writer.finish()


async def test_sidecar_before_the_first_bytes_and_kept_after_finish(tmp_path: Path) -> None:
    """The validator is written before any byte, also for a body that arrives whole, and
    stays after finish: a kill before publication must not cost a re-download."""
    validator = Validator(identity="a" * 64, etag="a" * 64, total=8, url="u")
    partial = _sink(tmp_path, validator)
    assert Validator.from_json(sidecar_path(partial.path).read_bytes()) == validator
    partial.store([b"abcd"])
    partial.store([b"efgh"], final=True)
    partial.finish()
    assert sidecar_path(partial.path).exists()

    whole = Sink(tmp_path / "whole", append=False, total=4, git_sha1=False,
                 validator=validator)
    whole.store([b"abcd"], final=True)
    whole.finish()
    assert whole.path.read_bytes() == b"abcd" and sidecar_path(whole.path).exists()
