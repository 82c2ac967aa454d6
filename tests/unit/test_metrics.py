"""Metrics per strategy: counts, failures by type, bytes and durations, as plain data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.fakes import ScriptedAcquisition
from tokenizer_acquisition import (
    HybridAcquisition,
    NetworkError,
    SmartTokenizerDownload,
    TokenizerDownloadInfo,
    TokenizerNotFound,
)
from tokenizer_acquisition.adapters.in_memory_metrics import InMemoryMetrics
from tokenizer_acquisition.domain.observers import FanOutObserver
from tokenizer_acquisition.ports.events import AcquisitionObserver, AttemptEvent

INFO = TokenizerDownloadInfo("org/name", "name", ("tokenizer.json",))


def test_counts_hits_misses_failures_bytes_and_durations() -> None:
    """Each outcome lands in its counter; durations feed count, sum and buckets."""
    metrics = InMemoryMetrics()
    for event in [AttemptEvent("network", "k", "downloaded", 0.2, bytes_downloaded=100),
                  AttemptEvent("network", "k", "hit", 0.0001),
                  AttemptEvent("network", "k", "failed", 0.02, error_type="RateLimited"),
                  AttemptEvent("cache-only", "k", "failed", 0.001, error_type="TokenizerNotFound"),
                  AttemptEvent("network", "k", "skipped", 0.0, reason="offline")]:
        metrics.attempt_finished(event)
    snap = metrics.snapshot()
    network = snap["strategies"]["network"]
    assert (network["attempts"], network["hits"], network["misses"], network["skipped"]) == (
        3, 1, 1, 1)
    assert network["failures"] == {"RateLimited": 1}
    assert network["bytes_downloaded"] == 100
    assert network["duration_seconds"]["count"] == 3
    assert network["duration_seconds"]["sum"] == pytest.approx(0.2201)
    assert network["duration_seconds"]["buckets"]["+Inf"] == 3
    assert network["duration_seconds"]["p50"] == 0.05
    assert snap["strategies"]["cache-only"]["misses"] == 1
    json.dumps(snap)


async def test_facade_metrics_cover_the_hybrid_and_each_part(tmp_path: Path) -> None:
    """SmartTokenizerDownload.metrics() reports the hybrid and every strategy it tried."""
    metrics = InMemoryMetrics()
    observer = FanOutObserver([metrics])
    hybrid = HybridAcquisition([ScriptedAcquisition("cache-only"),
                                ScriptedAcquisition("network", directory=tmp_path)],
                               observer=observer)
    downloader = SmartTokenizerDownload(hybrid, observer=observer, metrics=metrics)
    await downloader.acquire(INFO)
    snap = downloader.metrics()["strategies"]
    assert snap["hybrid"]["misses"] == 1 and snap["network"]["bytes_downloaded"] == 7
    assert snap["cache-only"]["failures"] == {"TokenizerNotFound": 1}


async def test_failures_are_counted_by_error_type() -> None:
    """A typed failure is counted under its class name."""
    error = NetworkError("down", url="http://127.0.0.1:9/x", status=503)
    downloader = SmartTokenizerDownload.with_strategy(ScriptedAcquisition("network", error=error))
    with pytest.raises(NetworkError):
        await downloader.acquire(INFO)
    assert downloader.metrics()["strategies"]["network"]["failures"] == {"NetworkError": 1}


def test_a_broken_observer_never_breaks_reporting_to_the_others() -> None:
    """FanOutObserver isolates observers from each other's bugs."""

    class Broken(AcquisitionObserver):
        def attempt_finished(self, event: AttemptEvent) -> None:
            raise RuntimeError("observer bug")

    metrics = InMemoryMetrics()
    FanOutObserver([Broken(), metrics]).attempt_finished(AttemptEvent("x", "k", "hit", 0.0))
    assert metrics.snapshot()["strategies"]["x"]["hits"] == 1


async def test_not_found_is_a_miss_for_cache_strategies() -> None:
    """TokenizerNotFound counts both as a failure type and as a miss."""
    downloader = SmartTokenizerDownload.with_strategy(ScriptedAcquisition("cache-only"))
    with pytest.raises(TokenizerNotFound):
        await downloader.acquire(INFO)
    figures = downloader.metrics()["strategies"]["cache-only"]
    assert figures["misses"] == 1 and figures["hits"] == 0
