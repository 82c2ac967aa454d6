"""Transport guarantees of issue 9 (and issue 10 items 2, 14, 20) against the Hub simulator.

Nothing unverifiable is published: a re-encoded body, an answer without a validator, a
body only its size could check but whose size is unknown or empty, a spliced 206. What
is verified is what is served: one writer per partial, even when the cache-key lock does
nothing. Bookkeeping survives crashes: a partial complete at a kill is confirmed with one
byte, not downloaded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from support.network import FAST, blob, options, partial_files
from support.tmpfs import mounted_tmpfs
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.adapters import partial_file, staging
from tokenizer_acquisition.adapters.aiohttp_remote import AiohttpRemoteFiles
from tokenizer_acquisition.adapters.partial_file import BackgroundWriter, Sink, sidecar_path
from tokenizer_acquisition.domain.errors import CacheWriteError, IntegrityError
from tokenizer_acquisition.ports.remote import Fetched, RemoteFile, TransferProgress
from tokenizer_acquisition.strategies import NetworkAcquisition
from tokenizer_acquisition.testing import (
    CloseDelimited,
    ContentEncoding,
    EmptyBody,
    HubSimulator,
    IgnoreRange,
    NoEtag,
    ResetAfter,
    SlowDrip,
    SpliceTotal,
    Truncate,
)

REPO = "org/tok"
FILE = "tokenizer.json"
DATA = blob(1_500_000, seed=3)
SHA = hashlib.sha256(DATA).hexdigest()
LOGIN_PAGE = b"<!doctype html><title>Sign in</title><form action=/login>...</form>"
CJK_NAME = "分" * 21  # 63 bytes of UTF-8, 189 percent-encoded
LONG_NAME = "a" * 200 + ".json"  # 205 ASCII characters


async def _sim(mode: str) -> HubSimulator:
    sim = HubSimulator(mode=mode)  # type: ignore[arg-type]
    await sim.start()
    sim.add_repo(REPO, {FILE: DATA, "small.json": b'{"a": 1}'})
    return sim


@pytest.fixture
async def opaque() -> AsyncIterator[HubSimulator]:
    """A mirror whose ETags are no content hash: only the size can check the bytes."""
    sim = await _sim("opaque")
    yield sim
    await sim.stop()


@pytest.fixture
async def hub() -> AsyncIterator[HubSimulator]:
    sim = await _sim("hub")
    yield sim
    await sim.stop()


@contextlib.asynccontextmanager
async def _remote(sim: HubSimulator, **overrides: object) -> AsyncIterator[AiohttpRemoteFiles]:
    remote = AiohttpRemoteFiles(options(sim, **overrides), backoff=FAST)
    try:
        yield remote
    finally:
        await remote.aclose()


def _file(sim: HubSimulator, staged: Path, *, pin: str | None = None,
          file: str = FILE) -> RemoteFile:
    return RemoteFile(url=sim.url(REPO, file), file=file, staged=staged, repo=REPO,
                      revision="main", max_bytes=1 << 31, sha256=pin)


async def _fetch(sim: HubSimulator, staged: Path, *, pin: str | None = None,
                 progress: TransferProgress | None = None) -> Fetched:
    async with _remote(sim) as remote:
        return await remote.download(_file(sim, staged, pin=pin), progress=progress)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# -- 1. Content-Encoding --------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
async def test_encoded_body_is_refused_typed_and_not_retried(
        opaque: HubSimulator, tmp_path: Path, encoding: str) -> None:
    """A Content-Encoding other than identity: IntegrityError(content-encoding), one GET."""
    opaque.inject(ContentEncoding(encoding), times=10)
    staged = tmp_path / "p" / "part"
    with pytest.raises(IntegrityError) as caught:
        await _fetch(opaque, staged)
    assert caught.value.check == "content-encoding" and caught.value.actual == encoding
    assert len(opaque.file_gets(FILE)) == 1
    assert not staged.exists() or staged.stat().st_size == 0


async def test_encoded_answer_to_a_resume_discards_the_partial(
        opaque: HubSimulator, tmp_path: Path) -> None:
    """A partial continued by a gzip answer is discarded: its offsets cannot be trusted."""
    staged = tmp_path / "part"
    opaque.inject(ResetAfter(400_000))
    opaque.inject(ContentEncoding("gzip"))
    with pytest.raises(IntegrityError):
        async with _remote(opaque, max_retries=1) as remote:
            await remote.download(_file(opaque, staged))
    assert [r.range for r in opaque.file_gets(FILE)][1] is not None  # it was a resume
    assert not staged.exists() or staged.stat().st_size == 0
    assert not sidecar_path(staged).exists()


# -- 2. a validator, or a pin ---------------------------------------------------------------

async def test_answer_without_validator_is_refused(hub: HubSimulator, tmp_path: Path) -> None:
    """A 200 with no ETag (a proxy's login page) is refused naming the endpoint problem."""
    hub.inject(NoEtag(LOGIN_PAGE), times=10)
    staged = tmp_path / "part"
    with pytest.raises(IntegrityError) as caught:
        await _fetch(hub, staged)
    error = caught.value
    assert error.check == "validator" and "text/html" in (error.actual or "")
    assert any("login page" in s for s in error.suggestions)
    assert any("HF_ENDPOINT" in s for s in error.suggestions)
    assert len(hub.file_gets(FILE)) == 1
    assert not staged.exists() or staged.stat().st_size == 0


async def test_answer_without_validator_is_accepted_with_a_pin(
        hub: HubSimulator, tmp_path: Path) -> None:
    """With the caller's sha256 pin the bytes can be checked, so no validator is needed."""
    hub.inject(NoEtag())
    fetched = await _fetch(hub, tmp_path / "part", pin=SHA)
    assert fetched.sha256 == SHA and fetched.etag is None
    assert (tmp_path / "part").read_bytes() == DATA


# -- 3. opaque ETags need an announced length -----------------------------------------------

async def test_close_delimited_body_cut_in_half_is_retried(
        opaque: HubSimulator, tmp_path: Path) -> None:
    """Opaque ETag, no length, half the body: never accepted; the next answer is used."""
    opaque.inject(CloseDelimited(len(DATA) // 2))
    fetched = await _fetch(opaque, tmp_path / "part")
    assert fetched.size == len(DATA) and fetched.sha256 == SHA
    assert len(opaque.file_gets(FILE)) == 2


async def test_close_delimited_every_time_fails_typed(
        opaque: HubSimulator, tmp_path: Path) -> None:
    """A mirror that never announces a length under an opaque ETag ends in IntegrityError."""
    opaque.inject(CloseDelimited(), times=50)
    with pytest.raises(IntegrityError) as caught:
        await _fetch(opaque, tmp_path / "part")
    assert caught.value.check == "size" and "length" in (caught.value.expected or "")
    assert len(opaque.file_gets(FILE)) == 4  # max_retries=3: bounded


async def test_close_delimited_body_is_accepted_with_a_pin(
        opaque: HubSimulator, tmp_path: Path) -> None:
    """A pin checks the bytes, so a body without a length is fine."""
    opaque.inject(CloseDelimited())
    fetched = await _fetch(opaque, tmp_path / "part", pin=SHA)
    assert fetched.sha256 == SHA and len(opaque.file_gets(FILE)) == 1


async def test_empty_200_under_an_opaque_etag_is_retried(
        opaque: HubSimulator, tmp_path: Path) -> None:
    """An empty 200 (Content-Length: 0) is not taken for the file."""
    opaque.inject(EmptyBody())
    fetched = await _fetch(opaque, tmp_path / "part")
    assert fetched.sha256 == SHA and len(opaque.file_gets(FILE)) == 2


async def test_short_body_under_an_opaque_etag_is_retried(
        opaque: HubSimulator, tmp_path: Path) -> None:
    """A body shorter than its Content-Length is continued, never accepted short."""
    opaque.inject(Truncate(300_000))
    fetched = await _fetch(opaque, tmp_path / "part")
    assert fetched.size == len(DATA) and fetched.sha256 == SHA


# -- 4. splices -----------------------------------------------------------------------------

@pytest.mark.parametrize("delta", [1000, -1000])
async def test_206_with_another_total_restarts_from_zero(
        opaque: HubSimulator, tmp_path: Path, delta: int) -> None:
    """Same ETag, other Content-Range total: the partial is discarded, never spliced."""
    opaque.inject(ResetAfter(500_000))
    opaque.inject(SpliceTotal(delta))
    fetched = await _fetch(opaque, tmp_path / "part")
    assert fetched.size == len(DATA) and fetched.sha256 == SHA
    assert (tmp_path / "part").read_bytes() == DATA
    ranges = [r.range for r in opaque.file_gets(FILE)]
    assert ranges[0] is None and ranges[1] is not None and ranges[-1] is None


# -- 5. one writer per partial --------------------------------------------------------------

WRITER = textwrap.dedent("""
    import asyncio, hashlib, json, sys
    from tokenizer_acquisition import TokenizerDownloadInfo
    from tokenizer_acquisition.adapters import staging
    from tokenizer_acquisition.domain.download_policy import Backoff
    from tokenizer_acquisition.ports.lock import NoLock
    from tokenizer_acquisition.strategies import NetworkAcquisition

    cache, endpoint, lock, foreign = sys.argv[1:5]
    if foreign == "1":  # another container on the shared volume: its pid cannot be checked
        staging.host_id = lambda: "elsewhere-1"

    async def main():
        strategy = NetworkAcquisition(cache, endpoint=endpoint, trust_env=False,
                                      max_retries=3, backoff=Backoff(base=0.001, cap=0.01),
                                      lock=NoLock() if lock == "none" else None)
        try:
            result = await strategy.acquire(TokenizerDownloadInfo("org/tok", "k",
                                                                  ("tokenizer.json",)))
            data = result.path.read_bytes()
            out = {"ok": True, "path": str(result.path), "size": len(data),
                   "sha256": hashlib.sha256(data).hexdigest()}
        except Exception as error:
            out = {"ok": False, "type": type(error).__name__, "message": str(error)}
        finally:
            await strategy.aclose()
        print(json.dumps(out), flush=True)

    asyncio.run(main())
""")


def _writer(cache: Path, endpoint: str, *, lock: str, foreign: bool) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(cache), endpoint, lock,
                             "1" if foreign else "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(child: subprocess.Popen[str]) -> dict[str, object]:
    out, err = child.communicate(timeout=120)
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            parsed: dict[str, object] = json.loads(line)
            return parsed
    return {"ok": False, "type": "crash", "message": err[-2000:]}


@contextlib.contextmanager
def _skewed(directory: Path) -> Iterator[None]:
    """A clock skew seen from here: every partial's mtime keeps being set hours back."""
    stop = threading.Event()
    past = time.time() - 10 * staging.FOREIGN_STALE_S

    def run() -> None:
        while not stop.is_set():
            for path in directory.glob(f"*{staging.SUFFIX}"):
                with contextlib.suppress(OSError):
                    os.utime(path, (past, past))
            stop.wait(0.002)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


@pytest.mark.parametrize("key_lock", ["disabled", "lock file deleted"])
def test_two_writers_never_append_to_one_partial(tmp_path: Path, key_lock: str) -> None:
    """Issue 9 #4: the key lock does nothing and a clock skew makes A's live partial look
    abandoned; B must not adopt it, and every published file is exactly the real one."""
    big = blob(3_000_000, seed=9)
    with HubSimulator().run_in_thread() as sim:
        sim.add_repo(REPO, {FILE: big})
        # Both bodies drip, so both writers are at work at the same time.
        sim.inject(SlowDrip(chunk_size=64 * 1024, delay_s=0.05), path=FILE, times=2)
        cache = tmp_path / "cache"
        lock = "none" if key_lock == "disabled" else "file"
        first = _writer(cache, sim.endpoint, lock=lock, foreign=True)
        partials = cache / ".tokacq" / "partials" / "k"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                p.stat().st_size >= 256 * 1024 for p in partial_files(cache, "k")):
            time.sleep(0.01)
        assert partial_files(cache, "k"), "the first writer never started"
        if key_lock == "lock file deleted":
            for lock_file in (cache / ".tokacq" / "locks").glob("k.lock*"):
                lock_file.unlink()
        with _skewed(partials):
            second = _writer(cache, sim.endpoint, lock=lock, foreign=False)
            b = _result(second)
        a = _result(first)
    real = {"size": len(big), "sha256": hashlib.sha256(big).hexdigest()}
    assert b["ok"], b
    assert {"size": b["size"], "sha256": b["sha256"]} == real
    assert a["ok"] or a.get("type") in ("CacheWriteError", "IntegrityError"), a
    for outcome in (a, b):
        if outcome["ok"]:
            served = Path(str(outcome["path"])).read_bytes()
            assert len(served) == len(big) and hashlib.sha256(served).digest() == \
                hashlib.sha256(big).digest()


async def test_a_foreign_write_to_the_partial_restarts_the_download(
        hub: HubSimulator, tmp_path: Path) -> None:
    """Belt and braces: bytes this writer did not write (no flock on the filesystem) never
    survive: overwritten in place by the writer's own, or caught at finish by the file's
    size so the download starts over. Either way the file is exactly the verified bytes."""
    staged = tmp_path / "part"
    # Slow enough (about 1.2 s) that the intrusion lands mid-download, never after finish.
    hub.inject(SlowDrip(chunk_size=256 * 1024, delay_s=0.2), path=FILE)
    task = asyncio.create_task(_fetch(hub, staged))
    async with asyncio.timeout(10):
        while not staged.exists() or staged.stat().st_size < 256 * 1024:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    with open(staged, "ab") as intruder:  # mid-download, on purpose
        intruder.write(b"x" * 262_144)
    fetched = await task
    assert fetched.sha256 == SHA and staged.read_bytes() == DATA
    assert 1 <= len(hub.file_gets(FILE)) <= 2


# -- 6. a complete partial survives a kill --------------------------------------------------

KILLED = textwrap.dedent("""
    import asyncio, os, signal, sys
    from pathlib import Path
    from tokenizer_acquisition.adapters import staging
    from tokenizer_acquisition.adapters.aiohttp_remote import AiohttpRemoteFiles
    from tokenizer_acquisition.domain.options import NetworkOptions
    from tokenizer_acquisition.ports.remote import RemoteFile

    directory, url = Path(sys.argv[1]), sys.argv[2]

    async def main():
        staged = staging.claim(directory, "tokenizer.json", "t" * 16)
        remote = AiohttpRemoteFiles(NetworkOptions(endpoint=url, trust_env=False))
        await remote.download(RemoteFile(url=url + "/org/tok/resolve/main/tokenizer.json",
                                         file="tokenizer.json", staged=staged, repo="org/tok",
                                         revision="main", max_bytes=1 << 31))
        os.kill(os.getpid(), signal.SIGKILL)  # fsynced, not yet published

    asyncio.run(main())
""")


@pytest.mark.parametrize("mode", ["hub", "opaque"])
def test_partial_complete_at_a_kill_is_confirmed_with_one_byte(tmp_path: Path,
                                                               mode: str) -> None:
    """Killed after the fsync, before publication: the next run asks for the last byte
    only (Range: bytes=N-1-), re-hashes the file from disk, and gets it right."""
    directory = tmp_path / "partials"
    with HubSimulator(mode=mode).run_in_thread() as sim:  # type: ignore[arg-type]
        sim.add_repo(REPO, {FILE: DATA})
        killed = subprocess.run([sys.executable, "-c", KILLED, str(directory), sim.endpoint],
                                capture_output=True, text=True, timeout=60)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        sim.clear()
        staged = staging.claim(directory, FILE, "t" * 16)
        try:
            assert staged.stat().st_size == len(DATA)  # adopted whole
            fetched = asyncio.run(_fetch(sim, staged))
        finally:
            staging.release(staged)
        gets = sim.file_gets(FILE)
    assert [r.range for r in gets] == [f"bytes={len(DATA) - 1}-"]
    assert sum(r.bytes_sent for r in gets) == 1
    assert fetched.sha256 == SHA and fetched.size == len(DATA) and fetched.resumed
    assert staged.read_bytes() == DATA
    assert sidecar_path(staged).exists()  # until the caller's discard after publication
    partial_file.discard(staged)
    assert not sidecar_path(staged).exists()


async def test_sidecar_is_written_for_a_body_that_arrives_at_once(
        hub: HubSimulator, tmp_path: Path) -> None:
    """A small file (one batch) gets its validator too, and keeps it after the download."""
    staged = tmp_path / "part"
    async with _remote(hub) as remote:
        await remote.download(_file(hub, staged, file="small.json"))
        assert sidecar_path(staged).exists()
        remote.discard(staged)
    assert not staged.exists() and not sidecar_path(staged).exists()


# -- 7. a full disk -------------------------------------------------------------------------

@pytest.fixture
def small_tmpfs() -> Iterator[Path]:
    """A real 5 MB tmpfs (root); skipped with the reason when it cannot be mounted."""
    with mounted_tmpfs("5m", why_root=" (the injected-failure test covers this)") as path:
        yield path


def _fill(directory: Path) -> None:
    """Write a filler file until the filesystem refuses even one more byte."""
    with open(directory / "filler", "wb", buffering=0) as filler:
        for block in (1 << 16, 1 << 12, 1 << 8, 1):
            with contextlib.suppress(OSError):
                while True:
                    filler.write(b"\0" * block)


def test_full_disk_during_a_four_file_set_is_cache_write_error(small_tmpfs: Path) -> None:
    """Issue 10 #2: a 4-file set on a full 5 MB tmpfs ends in CacheWriteError, never in
    ``ValueError: flush of closed file`` (small bodies fail at the final flush)."""
    files = {f"part{n}.json": blob(3000, seed=40 + n) for n in range(4)}
    with HubSimulator().run_in_thread() as sim:
        sim.add_repo(REPO, {**files, "first.json": b"{}"})

        async def acquire(names: tuple[str, ...]) -> None:
            strategy = NetworkAcquisition(small_tmpfs / "cache", options=options(sim),
                                          backoff=FAST)
            try:
                await strategy.acquire(TokenizerDownloadInfo(REPO, "k", names))
            finally:
                await strategy.aclose()

        asyncio.run(acquire(("first.json",)))  # the cache's own directories exist
        _fill(small_tmpfs)
        with pytest.raises(CacheWriteError) as caught:
            asyncio.run(acquire(tuple(files)))
    assert str(caught.value.path).startswith(str(small_tmpfs))


async def test_failed_finish_then_abort_is_cache_write_error(tmp_path: Path) -> None:
    """A sync failure at finish closes the file; the writer's abort must not fail again."""
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    sink = Sink(tmp_path / "part", append=False, total=None, git_sha1=False, datasync=full)
    opening: asyncio.Future[Sink] = asyncio.get_running_loop().create_future()
    opening.set_result(sink)
    writer = BackgroundWriter(opening, sync_every=16)
    await writer.submit([b"x" * 64])
    with pytest.raises(CacheWriteError):
        await writer.finish()
    await writer.abort()  # raised ValueError: flush of closed file


# -- 8. long file names ---------------------------------------------------------------------

@pytest.mark.parametrize("name", [CJK_NAME, LONG_NAME], ids=["cjk-21", "ascii-205"])
async def test_long_file_names_are_fetched_and_published(tmp_path: Path, name: str) -> None:
    """Issue 10 #14: a partial's name stays under NAME_MAX, whatever the file's name."""
    data = b'{"model": "long name"}'
    async with HubSimulator() as sim:
        sim.add_repo(REPO, {name: data})
        strategy = NetworkAcquisition(tmp_path / "cache", options=options(sim), backoff=FAST)
        try:
            result = await strategy.acquire(TokenizerDownloadInfo(REPO, "k", (name,)))
        finally:
            await strategy.aclose()
    assert result.files[name].read_bytes() == data
    assert not partial_files(tmp_path / "cache", "k")


# -- 9. progress after a server ignored Range -----------------------------------------------

class _Counted(TransferProgress):
    def __init__(self) -> None:
        self.total: int | None = None
        self.count = 0
        self.restarts = 0

    def started(self, total: int | None) -> None:
        self.total = total

    def advanced(self, nbytes: int) -> None:
        self.count += nbytes

    def restarted(self) -> None:
        self.restarts += 1
        self.count = 0


async def test_progress_restarts_when_a_range_is_ignored(
        hub: HubSimulator, tmp_path: Path) -> None:
    """Issue 10 #20: after a 200 to a ranged request the count starts over, ending at the size."""
    hub.inject(ResetAfter(600_000))
    hub.inject(IgnoreRange())
    progress = _Counted()
    fetched = await _fetch(hub, tmp_path / "part", progress=progress)
    assert fetched.sha256 == SHA
    assert progress.restarts == 1 and progress.count == progress.total == len(DATA)


async def test_progress_restarts_on_a_download_from_zero(
        hub: HubSimulator, tmp_path: Path) -> None:
    """``resume=False`` tells the progress hooks too: the caller's count starts over."""
    progress = _Counted()
    progress.count = 123  # bytes an earlier call reported
    async with _remote(hub) as remote:
        await remote.download(_file(hub, tmp_path / "part"), resume=False, progress=progress)
    assert progress.restarts == 1 and progress.count == len(DATA)
