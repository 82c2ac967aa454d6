"""Where a download reports its progress (bars, logs): a file starts, advances, is done.

``AcquisitionObserver`` extends this port, so the observer a strategy is built with is
also its progress listener; that is the route for progress (the CLI passes one that
draws bars). A download shared by several callers (single-flight) reports once, to the
observer of the strategy that runs it.
"""

from __future__ import annotations

from abc import ABC


class ProgressListener(ABC):  # noqa: B024 - every hook is optional
    """Per-file progress hooks with no-op defaults; called on the event loop's thread."""

    def file_started(self, cache_key: str, file: str, total: int | None) -> None:  # noqa: B027
        """A download of ``file`` began; ``total`` is its size when announced."""

    def file_advanced(self, cache_key: str, file: str, nbytes: int) -> None:  # noqa: B027
        """``nbytes`` more bytes of ``file`` arrived."""

    def file_resumed(self, cache_key: str, file: str, offset: int) -> None:  # noqa: B027
        """``file`` continues an earlier partial: its first ``offset`` bytes are already
        there (called after ``file_started``; they will not be ``advanced``)."""

    def file_restarted(self, cache_key: str, file: str) -> None:  # noqa: B027
        """``file`` is being fetched again from byte 0: what advanced so far no longer
        counts (a server ignored ``Range``, a partial was discarded)."""

    def file_finished(self, cache_key: str, file: str) -> None:  # noqa: B027
        """``file`` was verified and published."""
