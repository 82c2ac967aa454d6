"""Single-flight: concurrent calls with the same key share one run of the work.

Rules (the issue was silent on the last two; these are the choices):

- The first caller for a key starts the work as a task; later callers with that key,
  while it runs, await the same task. Everyone gets the same value, or the same
  exception object (a typed error stays typed).
- Each caller awaits through ``asyncio.shield``: cancelling one caller never cancels
  the work while others still wait for it.
- When the **last** waiter is cancelled, the work is cancelled too, and that caller's
  cancellation completes only once the work has wound down (partials flushed, lock
  released). A lone caller's cancellation therefore still stops its download, as it
  did before single-flight; nobody is left to want the result, and a later call
  resumes from the partial. The flight leaves the map at once, so a caller arriving
  meanwhile starts a fresh flight instead of inheriting a cancellation.
- Flights are kept per event loop: a task can only be awaited from its own loop. The
  map is guarded by a ``threading.Lock``, so one instance may serve several loops in
  several threads (each loop then runs its own flight; the cross-process lock is what
  serialises them).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Shared(Generic[T]):
    """A flight's value; ``leader`` is true for the caller whose call started the work."""

    value: T
    leader: bool


class _Flight(Generic[T]):
    def __init__(self, task: asyncio.Task[T]) -> None:
        self.task = task
        self.waiters = 0


class SingleFlight(Generic[T]):
    """``await flights.run(key, work)``: ``work()`` runs once per key at a time, per loop."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._flights: dict[tuple[asyncio.AbstractEventLoop, Hashable], _Flight[T]] = {}

    def in_flight(self) -> int:
        """How many flights are running (all loops)."""
        with self._guard:
            return len(self._flights)

    async def run(self, key: Hashable,
                  work: Callable[[], Coroutine[Any, Any, T]]) -> Shared[T]:
        loop = asyncio.get_running_loop()
        slot = (loop, key)
        with self._guard:
            flight = self._flights.get(slot)
            leader = flight is None
            if flight is None:
                flight = _Flight(loop.create_task(work()))
                self._flights[slot] = flight
                flight.task.add_done_callback(lambda task: self._landed(slot, flight))
            flight.waiters += 1
        try:
            value = await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if self._leave(slot, flight) and not flight.task.done():
                flight.task.cancel()
                await asyncio.wait([flight.task])
            raise
        except BaseException:
            self._leave(slot, flight)
            raise
        self._leave(slot, flight)
        return Shared(value, leader)

    def _leave(self, slot: tuple[asyncio.AbstractEventLoop, Hashable], flight: _Flight[T]
               ) -> bool:
        """One waiter fewer; true (and the flight forgotten) when it was the last one."""
        with self._guard:
            flight.waiters -= 1
            if flight.waiters > 0:
                return False
            if self._flights.get(slot) is flight:
                del self._flights[slot]
            return True

    def _landed(self, slot: tuple[asyncio.AbstractEventLoop, Hashable], flight: _Flight[T]
                ) -> None:
        with self._guard:
            if self._flights.get(slot) is flight:
                del self._flights[slot]
        if not flight.task.cancelled():
            flight.task.exception()  # retrieved here: every waiter may have gone
