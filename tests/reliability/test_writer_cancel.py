"""Cancelling a download while a write is in flight never closes the file under the writer."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from pathlib import Path

from reliability.conftest import Results
from tokenizer_acquisition.adapters.partial_file import BackgroundWriter, Sink

COMMAND = "pytest tests/reliability/test_writer_cancel.py"


class _SlowSink:
    """Stands in for ``Sink``: ``store`` blocks until released; records the order of events."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.events: list[str] = []
        self.path = Path("slow")
        self.unsynced = 0

    def digest(self, chunks: Sequence[bytes]) -> None:
        pass

    def store(self, chunks: Sequence[bytes], *, final: bool = False) -> None:
        self.release.wait(5)
        self.events.append(f"write {b''.join(chunks)!r}")

    def close(self) -> None:
        self.events.append("close")


async def test_abort_after_a_cancelled_drain_waits_for_the_write(results: Results) -> None:
    """A cancel landing in submit()'s drain: abort() still waits for that write, then closes."""
    sink = _SlowSink()
    opening: asyncio.Future[Sink] = asyncio.get_running_loop().create_future()
    opening.set_result(sink)  # type: ignore[arg-type]
    writer = BackgroundWriter(opening, max_in_flight=1)
    await writer.submit([b"first"])  # in flight, blocked in its thread
    second = asyncio.create_task(writer.submit([b"second"]))
    await asyncio.sleep(0.05)
    second.cancel()  # what _fetch_all does to a sibling when one file fails
    with contextlib.suppress(asyncio.CancelledError):
        await second
    aborting = asyncio.create_task(writer.abort())
    await asyncio.sleep(0.05)
    waited = not aborting.done()
    sink.release.set()
    await aborting
    ok = waited and sink.events == ["write b'first'", "close"]
    results.add("cancel during a write (writer never closed under a thread)", runs=1,
                passed=int(ok), command=COMMAND)
    assert ok, sink.events
