"""Reporting to several observers at once (logs and metrics, say)."""

from __future__ import annotations

from collections.abc import Sequence

from ..ports.events import AcquisitionObserver, AttemptEvent


class FanOutObserver(AcquisitionObserver):
    """Forwards every hook to each observer in order.

    An observer that raises is a bug in the observer, not a failed acquisition: its error
    is swallowed so reporting can never break a download. (Plain loops: this runs twice
    on every cache hit.)
    """

    def __init__(self, observers: Sequence[AcquisitionObserver]) -> None:
        self.observers = tuple(observers)

    def attempt_finished(self, event: AttemptEvent) -> None:
        for observer in self.observers:
            try:
                observer.attempt_finished(event)
            except Exception:
                continue

    def file_started(self, cache_key: str, file: str, total: int | None) -> None:
        for observer in self.observers:
            try:
                observer.file_started(cache_key, file, total)
            except Exception:
                continue

    def file_advanced(self, cache_key: str, file: str, nbytes: int) -> None:
        for observer in self.observers:
            try:
                observer.file_advanced(cache_key, file, nbytes)
            except Exception:
                continue

    def file_resumed(self, cache_key: str, file: str, offset: int) -> None:
        for observer in self.observers:
            try:
                observer.file_resumed(cache_key, file, offset)
            except Exception:
                continue

    def file_restarted(self, cache_key: str, file: str) -> None:
        for observer in self.observers:
            try:
                observer.file_restarted(cache_key, file)
            except Exception:
                continue

    def file_finished(self, cache_key: str, file: str) -> None:
        for observer in self.observers:
            try:
                observer.file_finished(cache_key, file)
            except Exception:
                continue
