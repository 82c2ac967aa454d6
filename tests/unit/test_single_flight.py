"""SingleFlight: concurrent calls with one key share one run; cancellation and errors."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tokenizer_acquisition.domain.errors import RepositoryNotFound
from tokenizer_acquisition.domain.single_flight import SingleFlight


class Work:
    """Counts runs; each run waits for ``release`` so callers pile up on it."""

    def __init__(self, value: str = "done", error: BaseException | None = None) -> None:
        self.value = value
        self.error = error
        self.runs = 0
        self.finished = 0
        self.cancelled = 0
        self.release = asyncio.Event()

    async def __call__(self) -> str:
        self.runs += 1
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.finished += 1
        if self.error is not None:
            raise self.error
        return self.value


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_hundred_callers_share_one_run() -> None:
    """100 concurrent calls with one key: the work runs once, all get its value, one leads."""
    flights: SingleFlight[str] = SingleFlight()
    work = Work()
    tasks = [asyncio.create_task(flights.run("key", work)) for _ in range(100)]
    await settle()
    work.release.set()
    shared = await asyncio.gather(*tasks)
    assert work.runs == 1
    assert {s.value for s in shared} == {"done"}
    assert sum(s.leader for s in shared) == 1
    assert flights.in_flight() == 0


async def test_different_keys_run_separately() -> None:
    """Two keys are two flights."""
    flights: SingleFlight[str] = SingleFlight()
    work = Work()
    tasks = [asyncio.create_task(flights.run(key, work)) for key in ("a", "b", "a")]
    await settle()
    work.release.set()
    await asyncio.gather(*tasks)
    assert work.runs == 2


async def test_error_reaches_every_waiter_as_the_same_typed_error() -> None:
    """A failed run raises the same RepositoryNotFound object in every caller."""
    flights: SingleFlight[str] = SingleFlight()
    error = RepositoryNotFound("org/none", url="https://hub.test/org/none")
    work = Work(error=error)
    tasks = [asyncio.create_task(flights.run("key", work)) for _ in range(10)]
    await settle()
    work.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert work.runs == 1
    assert all(r is error for r in results)


async def test_cancelled_caller_does_not_cancel_the_others() -> None:
    """Cancelling the leader and another waiter: the run goes on for the rest."""
    flights: SingleFlight[str] = SingleFlight()
    work = Work()
    tasks = [asyncio.create_task(flights.run("key", work)) for _ in range(3)]
    await settle()
    tasks[0].cancel()
    tasks[1].cancel()
    await settle()
    assert work.cancelled == 0
    work.release.set()
    assert (await tasks[2]).value == "done"
    for task in tasks[:2]:
        with pytest.raises(asyncio.CancelledError):
            await task
    assert work.runs == 1 and work.cancelled == 0


async def test_last_waiter_leaving_cancels_the_run_and_waits_for_it() -> None:
    """When every caller is cancelled the run is cancelled, and has ended when they return."""
    flights: SingleFlight[str] = SingleFlight()
    work = Work()
    tasks = [asyncio.create_task(flights.run("key", work)) for _ in range(2)]
    await settle()
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert work.cancelled == 1 and work.finished == 1
    assert flights.in_flight() == 0


async def test_caller_after_an_abandoned_flight_starts_afresh() -> None:
    """A call arriving once the last waiter left is not handed the cancelled run."""
    flights: SingleFlight[str] = SingleFlight()
    first = Work()
    abandoned = asyncio.create_task(flights.run("key", first))
    await settle()
    abandoned.cancel()
    second = Work("again")
    later = asyncio.create_task(flights.run("key", second))
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    second.release.set()
    shared = await later
    assert shared.value == "again" and shared.leader
    assert (first.runs, second.runs) == (1, 1)


async def test_finished_flight_is_not_reused() -> None:
    """Single-flight dedupes concurrent calls only: a later call runs the work again."""
    flights: SingleFlight[str] = SingleFlight()
    work = Work()
    work.release.set()
    await flights.run("key", work)
    await flights.run("key", work)
    assert work.runs == 2


def test_each_event_loop_has_its_own_flights() -> None:
    """Two loops in two threads with one key: each runs its own work, neither breaks."""
    flights: SingleFlight[str] = SingleFlight()
    both_started = threading.Barrier(2, timeout=10)
    runs: list[int] = []
    errors: list[BaseException] = []

    async def work() -> str:
        runs.append(threading.get_ident())
        await asyncio.to_thread(both_started.wait)
        return "done"

    def thread_main() -> None:
        try:
            assert asyncio.run(flights.run("key", work)).value == "done"
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=thread_main) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not any(t.is_alive() for t in threads), "a loop's flight never finished"
    assert errors == []
    assert len(set(runs)) == 2
    assert flights.in_flight() == 0
