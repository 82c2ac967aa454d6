"""Per-strategy performance figures, readable as plain data."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from .events import AcquisitionObserver


class MetricsRecorder(AcquisitionObserver):
    """An observer that keeps counters and durations; ``snapshot()`` is JSON-serialisable."""

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """``{"strategies": {name: {...}}}`` with counts, bytes and duration statistics."""
