"""The default metrics store: counters and a duration histogram per strategy, in memory."""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..ports.events import AttemptEvent
from ..ports.metrics import MetricsRecorder

#: Upper bounds in seconds (Prometheus-style cumulative buckets; +Inf is implied).
BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0)
_MISS_ERRORS = frozenset({"TokenizerNotFound"})


@dataclass
class _StrategyFigures:
    attempts: int = 0
    hits: int = 0
    misses: int = 0
    downloads: int = 0
    skipped: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    bytes_downloaded: int = 0
    duration_count: int = 0
    duration_sum: float = 0.0
    bucket_counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))

    def as_dict(self) -> dict[str, Any]:
        cumulative: dict[str, int] = {}
        running = 0
        for bound, count in zip([*map(str, BUCKETS), "+Inf"], self.bucket_counts, strict=True):
            running += count
            cumulative[bound] = running
        return {
            "attempts": self.attempts,
            "hits": self.hits,
            "misses": self.misses,
            "downloads": self.downloads,
            "skipped": self.skipped,
            "failures": dict(self.failures),
            "bytes_downloaded": self.bytes_downloaded,
            "duration_seconds": {
                "count": self.duration_count,
                "sum": self.duration_sum,
                "buckets": cumulative,
                "p50": self._quantile(0.5),
                "p90": self._quantile(0.9),
                "p99": self._quantile(0.99),
            },
        }

    def _quantile(self, q: float) -> float | None:
        """Upper bound of the bucket holding the q-quantile (as Prometheus estimates it)."""
        if not self.duration_count:
            return None
        rank = q * self.duration_count
        running = 0
        for bound, count in zip([*BUCKETS, float("inf")], self.bucket_counts, strict=True):
            running += count
            if running >= rank:
                return bound
        return float("inf")


class InMemoryMetrics(MetricsRecorder):
    """Thread-safe: services may acquire from several threads' event loops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._figures: dict[str, _StrategyFigures] = {}

    def attempt_finished(self, event: AttemptEvent) -> None:
        with self._lock:
            figures = self._figures.get(event.strategy)
            if figures is None:
                figures = self._figures[event.strategy] = _StrategyFigures()
            if event.outcome == "skipped":
                figures.skipped += 1
                return
            figures.attempts += 1
            if event.outcome == "hit":
                figures.hits += 1
            elif event.outcome == "downloaded":
                figures.misses += 1
                figures.downloads += 1
            else:
                error = event.error_type or "unknown"
                figures.failures[error] += 1
                if error in _MISS_ERRORS:
                    figures.misses += 1
            figures.bytes_downloaded += event.bytes_downloaded
            figures.duration_count += 1
            figures.duration_sum += event.duration_s
            figures.bucket_counts[bisect.bisect_left(BUCKETS, event.duration_s)] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"strategies": {name: f.as_dict() for name, f in sorted(self._figures.items())}}
