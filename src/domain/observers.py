"""Reporting what acquisitions did: to several observers at once (logs and metrics, say),
and one timed attempt as an ``AttemptEvent`` (``observed_attempt``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..ports.events import AcquisitionObserver, AttemptEvent
from .errors import AcquisitionError

if TYPE_CHECKING:
    from ..ports.acquisition import TokenizerAcquisition
    from .request import TokenizerDownloadInfo
    from .results import AcquisitionResult


async def observed_attempt(strategy: TokenizerAcquisition, info: TokenizerDownloadInfo,
                           observer: AcquisitionObserver,
                           unreported: tuple[type[AcquisitionError], ...] = ()
                           ) -> AcquisitionResult:
    """``strategy.acquire(info)``, timed and reported to ``observer`` as one attempt:
    "hit" or "downloaded" with the bytes, or "failed" with the error's type (then the
    error propagates). Errors of a type in ``unreported`` propagate without an event (the
    hybrid stops on them, and its caller reports the whole attempt)."""
    started = time.perf_counter()
    try:
        result = await strategy.acquire(info)
    except unreported:
        raise
    except AcquisitionError as error:
        observer.attempt_finished(AttemptEvent(
            strategy.name, info.cache_key, "failed", time.perf_counter() - started,
            error_type=type(error).__name__))
        raise
    observer.attempt_finished(AttemptEvent(
        strategy.name, info.cache_key, "hit" if result.from_cache else "downloaded",
        time.perf_counter() - started, bytes_downloaded=result.bytes_downloaded))
    return result


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
