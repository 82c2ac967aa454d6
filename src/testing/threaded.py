"""Run a Hub simulator on a background thread, for sync code and subprocess tests.

Blocking clients (``huggingface_hub``, subprocesses waited on synchronously) would
deadlock a simulator living on the caller's own event loop.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .hub_simulator import HubSimulator

__all__ = ["ThreadedHubSimulator"]


class ThreadedHubSimulator:
    """``with ThreadedHubSimulator(sim) as sim:`` serves ``sim`` until the block ends.

    Repos, tokens, faults and the request log stay usable from the calling thread.
    """

    def __init__(self, sim: HubSimulator | None = None, *, timeout: float = 10.0) -> None:
        if sim is None:
            from .hub_simulator import HubSimulator

            sim = HubSimulator()
        self.sim = sim
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> HubSimulator:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.sim.start())
            except BaseException as exc:  # reported to the caller below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                _drain(loop)

        thread = threading.Thread(target=serve, name="hub-simulator", daemon=True)
        thread.start()
        if not ready.wait(self._timeout):
            raise TimeoutError("hub simulator did not start")
        if failure:
            thread.join(self._timeout)
            raise failure[0]
        self._loop, self._thread = loop, thread
        return self.sim

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        try:
            asyncio.run_coroutine_threadsafe(self.sim.stop(), loop).result(self._timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(self._timeout)


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel leftovers and close the loop without 'task destroyed' warnings."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
