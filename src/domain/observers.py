"""Reporting to several observers at once (logs and metrics, say)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from ..ports.events import AcquisitionObserver, AttemptEvent


class FanOutObserver(AcquisitionObserver):
    """Forwards every hook to each observer in order.

    An observer that raises is a bug in the observer, not a failed acquisition: its error
    is swallowed so reporting can never break a download.
    """

    def __init__(self, observers: Sequence[AcquisitionObserver]) -> None:
        self.observers = tuple(observers)

    def _each(self, hook: str, *args: object) -> None:
        for observer in self.observers:
            with contextlib.suppress(Exception):
                getattr(observer, hook)(*args)

    def attempt_finished(self, event: AttemptEvent) -> None:
        self._each("attempt_finished", event)

    def file_started(self, cache_key: str, file: str, total: int | None) -> None:
        self._each("file_started", cache_key, file, total)

    def file_advanced(self, cache_key: str, file: str, nbytes: int) -> None:
        self._each("file_advanced", cache_key, file, nbytes)

    def file_finished(self, cache_key: str, file: str) -> None:
        self._each("file_finished", cache_key, file)
