"""Many callers in one process against the Hub simulator: one download, shared."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from support.network import (
    FAST,
    MINILM,
    MINILM_FILES,
    REPO,
    options,
    partial_files,
)
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.adapters.file_lock import FileKeyLock
from tokenizer_acquisition.domain.errors import RepositoryNotFound
from tokenizer_acquisition.ports.events import AcquisitionObserver
from tokenizer_acquisition.ports.lock import CacheKeyLock, NoLock
from tokenizer_acquisition.strategies import NetworkAcquisition
from tokenizer_acquisition.testing import HubSimulator, SlowDrip

INFO = TokenizerDownloadInfo(REPO, "minilm", MINILM_FILES)


class CountingLock(CacheKeyLock):
    """The real file lock, counting how often it is taken."""

    def __init__(self, inner: CacheKeyLock) -> None:
        self.inner = inner
        self.holds: list[str] = []

    def hold(self, cache_key: str, timeout_s: float) -> AbstractAsyncContextManager[None]:
        self.holds.append(cache_key)
        return self.inner.hold(cache_key, timeout_s)


@pytest.fixture
async def sim() -> AsyncIterator[HubSimulator]:
    async with HubSimulator() as simulator:
        simulator.add_repo_from_dir(REPO, MINILM, lfs=["tokenizer.json"])
        yield simulator


@pytest.fixture
async def strategy(sim: HubSimulator, tmp_path: Path) -> AsyncIterator[NetworkAcquisition]:
    built = NetworkAcquisition(tmp_path, options=options(sim), backoff=FAST)
    yield built
    await built.aclose()


def assert_one_get_per_file(sim: HubSimulator) -> None:
    for name in MINILM_FILES:
        assert len(sim.file_gets(name)) == 1, name


async def test_hundred_concurrent_acquires_download_each_file_once(
    sim: HubSimulator, tmp_path: Path
) -> None:
    """100 concurrent acquires, no file lock: one download, one GET per file, one path."""
    lock = CountingLock(NoLock())
    strategy = NetworkAcquisition(tmp_path, options=options(sim), backoff=FAST, lock=lock)
    try:
        results = await asyncio.gather(*(strategy.acquire(INFO) for _ in range(100)))
    finally:
        await strategy.aclose()
    assert lock.holds == ["minilm"]
    assert_one_get_per_file(sim)
    assert {r.path for r in results} == {results[0].path}
    for name in MINILM_FILES:
        assert results[0].files[name].read_bytes() == (MINILM / name).read_bytes()
    total = sum((MINILM / n).stat().st_size for n in MINILM_FILES)
    assert sum(r.bytes_downloaded for r in results) == total


class BytesFlowing(AcquisitionObserver):
    """Sets ``flowing`` when the first bytes of a download arrive."""

    def __init__(self) -> None:
        self.flowing = asyncio.Event()
        self.finished: list[str] = []

    def file_advanced(self, cache_key: str, file: str, nbytes: int) -> None:
        self.flowing.set()

    def file_finished(self, cache_key: str, file: str) -> None:
        self.finished.append(file)


async def test_cancelled_caller_does_not_break_the_others(
    sim: HubSimulator, tmp_path: Path
) -> None:
    """One of five callers (the leader) is cancelled mid-download; the others finish."""
    sim.inject(SlowDrip(chunk_size=16_384, delay_s=0.005), path="tokenizer.json")
    observer = BytesFlowing()
    strategy = NetworkAcquisition(tmp_path, options=options(sim), backoff=FAST,
                                  observer=observer)
    tasks = [asyncio.create_task(strategy.acquire(INFO)) for _ in range(5)]
    try:
        async with asyncio.timeout(30):
            await observer.flowing.wait()
            tasks[0].cancel()
            with pytest.raises(asyncio.CancelledError):
                await tasks[0]
            results = await asyncio.gather(*tasks[1:])
    finally:
        await strategy.aclose()
    assert_one_get_per_file(sim)
    assert sorted(observer.finished) == sorted(MINILM_FILES)
    assert {r.path for r in results} == {results[0].path}
    assert results[0].path.read_bytes() == (MINILM / "tokenizer.json").read_bytes()
    assert not partial_files(tmp_path, "minilm")


async def test_failure_reaches_every_caller_typed_after_one_request(
    sim: HubSimulator, strategy: NetworkAcquisition
) -> None:
    """Ten callers for a missing repo: one request, ten RepositoryNotFound (the same error)."""
    info = TokenizerDownloadInfo("org/missing", "missing", ("tokenizer.json",))
    results = await asyncio.gather(*(strategy.acquire(info) for _ in range(10)),
                                   return_exceptions=True)
    assert all(isinstance(r, RepositoryNotFound) for r in results)
    assert all(r is results[0] for r in results)
    assert len(sim.requests) == 1


async def test_cache_hit_takes_no_lock(sim: HubSimulator, tmp_path: Path) -> None:
    """The lock is taken once for the download, never for the hits after it."""
    lock = CountingLock(FileKeyLock(lambda key: tmp_path / ".tokacq" / "locks" / f"{key}.lock"))
    strategy = NetworkAcquisition(tmp_path, options=options(sim), backoff=FAST, lock=lock)
    try:
        await asyncio.gather(*(strategy.acquire(INFO) for _ in range(10)))
        sim.clear()
        for _ in range(3):
            assert (await strategy.acquire(INFO)).from_cache
    finally:
        await strategy.aclose()
    assert lock.holds == ["minilm"]
    assert sim.requests == []


async def test_two_strategies_in_one_process_exclude_each_other(
    sim: HubSimulator, tmp_path: Path
) -> None:
    """Two strategies on one cache (own flights) still fetch each file once: the file lock."""
    sim.inject(SlowDrip(chunk_size=65_536, delay_s=0.005), path="tokenizer.json")
    first = NetworkAcquisition(tmp_path, options=options(sim), backoff=FAST)
    second = NetworkAcquisition(tmp_path, options=options(sim), backoff=FAST)
    try:
        results = await asyncio.gather(first.acquire(INFO), second.acquire(INFO))
    finally:
        await first.aclose()
        await second.aclose()
    assert_one_get_per_file(sim)
    assert results[0].path == results[1].path
