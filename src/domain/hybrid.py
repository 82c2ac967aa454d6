"""Ordered fallback over strategies: the first success wins, every failure is kept."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from ..ports.acquisition import TokenizerAcquisition
from ..ports.events import AcquisitionObserver, AttemptEvent, NullObserver
from .errors import (
    AcquisitionError,
    AllStrategiesFailed,
    Attempt,
    CacheKeyConflict,
    VocabMismatch,
)
from .request import TokenizerDownloadInfo
from .results import AcquisitionResult, StrategyStatus


def status_of(strategy: TokenizerAcquisition) -> StrategyStatus:
    available = strategy.is_available()
    return StrategyStatus(
        name=strategy.name,
        description=strategy.description,
        available=available,
        requirements=tuple(strategy.requirements()),
        reason=None if available else strategy.unavailable_reason(),
        uses_network=strategy.uses_network,
    )


class HybridAcquisition(TokenizerAcquisition):
    """Tries each strategy in order; an unavailable one is skipped with its reason.

    A ``VocabMismatch`` or a ``CacheKeyConflict`` stops the walk: the files exist but are
    the wrong tokenizer (or another repo's), and fetching them again from elsewhere would
    hide a configuration mistake.
    """

    name = "hybrid"

    def __init__(self, strategies: Sequence[TokenizerAcquisition],
                 observer: AcquisitionObserver | None = None) -> None:
        if not strategies:
            raise ValueError("HybridAcquisition needs at least one strategy")
        self._strategies = tuple(strategies)
        self._observer = observer or NullObserver()

    @property
    def strategies(self) -> tuple[TokenizerAcquisition, ...]:
        return self._strategies

    @property
    def uses_network(self) -> bool:  # type: ignore[override]
        return any(s.uses_network and s.is_available() for s in self._strategies)

    @property
    def description(self) -> str:
        order = " -> ".join(s.name for s in self._strategies)
        return f"hybrid: first success of {order}"

    def available_strategies(self) -> list[str]:
        return [s.name for s in self._strategies if s.is_available()]

    def is_available(self) -> bool:
        return any(s.is_available() for s in self._strategies)

    def unavailable_reason(self) -> str | None:
        if self.is_available():
            return None
        return "; ".join(f"{s.name}: {s.unavailable_reason()}" for s in self._strategies)

    def requirements(self) -> list[str]:
        out: list[str] = []
        for strategy in self._strategies:
            out.extend(r for r in strategy.requirements() if r not in out)
        return out

    def statuses(self) -> tuple[StrategyStatus, ...]:
        return tuple(status_of(s) for s in self._strategies)

    async def acquire(self, info: TokenizerDownloadInfo) -> AcquisitionResult:
        attempts: list[Attempt] = []
        for strategy in self._strategies:
            if not strategy.is_available():
                reason = strategy.unavailable_reason() or "unavailable"
                attempts.append(Attempt(strategy.name, skipped=reason))
                self._observer.attempt_finished(AttemptEvent(
                    strategy.name, info.cache_key, "skipped", 0.0, reason=reason))
                continue
            started = time.perf_counter()
            try:
                result = await strategy.acquire(info)
            except (VocabMismatch, CacheKeyConflict):
                raise
            except AcquisitionError as error:
                attempts.append(Attempt(strategy.name, error=error))
                self._observer.attempt_finished(AttemptEvent(
                    strategy.name, info.cache_key, "failed", time.perf_counter() - started,
                    error_type=type(error).__name__))
                continue
            self._observer.attempt_finished(AttemptEvent(
                strategy.name, info.cache_key, "hit" if result.from_cache else "downloaded",
                time.perf_counter() - started, bytes_downloaded=result.bytes_downloaded))
            return _with_attempts(result, attempts)
        raise AllStrategiesFailed(info.cache_key, attempts)

    async def aclose(self) -> None:
        for strategy in self._strategies:
            await strategy.aclose()


def _with_attempts(result: AcquisitionResult, attempts: list[Attempt]) -> AcquisitionResult:
    if not attempts:
        return result
    return replace(result, attempts=tuple(attempts))
