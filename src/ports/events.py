"""Where acquisitions report what happened (logs, metrics, progress bars)."""

from __future__ import annotations

from abc import ABC
from dataclasses import dataclass


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


class AcquisitionObserver(ABC):  # noqa: B024 - every hook is optional
    """Hooks with no-op defaults, so an observer overrides only what it needs."""

    def attempt_finished(self, event: AttemptEvent) -> None:  # noqa: B027
        """A strategy finished one attempt, successfully or not."""

    def file_started(self, cache_key: str, file: str, total: int | None) -> None:  # noqa: B027
        """A download of ``file`` began; ``total`` is its size when announced."""

    def file_advanced(self, cache_key: str, file: str, nbytes: int) -> None:  # noqa: B027
        """``nbytes`` more bytes of ``file`` arrived."""

    def file_finished(self, cache_key: str, file: str) -> None:  # noqa: B027
        """``file`` was verified and published."""


class NullObserver(AcquisitionObserver):
    """Reports nowhere."""
