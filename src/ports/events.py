"""Where acquisitions report what happened (logs, metrics, progress bars)."""

from __future__ import annotations

from dataclasses import dataclass

from .progress import ProgressListener


@dataclass(frozen=True)
class AttemptEvent:
    """One strategy tried one request. ``outcome`` is "hit", "downloaded", "skipped" or "failed"."""

    strategy: str
    cache_key: str
    outcome: str
    duration_s: float
    bytes_downloaded: int = 0
    error_type: str | None = None
    reason: str | None = None


class AcquisitionObserver(ProgressListener):
    """Hooks with no-op defaults, so an observer overrides only what it needs.

    The file hooks (``file_started``, ``file_advanced``, ``file_finished``) come from
    ``ProgressListener``: an observer is the progress port too.
    """

    def attempt_finished(self, event: AttemptEvent) -> None:
        """A strategy finished one attempt, successfully or not."""


class NullObserver(AcquisitionObserver):
    """Reports nowhere."""
