"""Ordered fallback over strategies: the first success wins, every failure is kept.

Which error a failed hybrid acquisition raises (the rule callers can ``except`` on):

- when exactly one part failed with something other than a miss (``TokenizerNotFound``),
  and every other part missed or was skipped, that part's own typed error is raised
  (``RevisionNotFound``, ``GatedRepository``, ``NetworkError``...), chained ``from`` an
  ``AllStrategiesFailed`` that lists every attempt (``error.__cause__.attempts``);
- otherwise (every part missed or was skipped, or two or more parts failed for other
  reasons) ``AllStrategiesFailed`` is raised, carrying each attempt's typed error;
- ``VocabMismatch`` and ``CacheKeyConflict`` stop the walk at once and are raised as such.

Once a network part was tried, the cache parts' "enable downloads" advice is dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace
from typing import NoReturn

from ..ports.acquisition import TokenizerAcquisition
from ..ports.events import AcquisitionObserver, AttemptEvent, NullObserver
from .errors import (
    AcquisitionError,
    AllStrategiesFailed,
    Attempt,
    CacheKeyConflict,
    VocabMismatch,
)
from .observers import observed_attempt
from .request import TokenizerDownloadInfo
from .results import AcquisitionPlan, AcquisitionResult, StrategyStatus


def status_of(strategy: TokenizerAcquisition) -> StrategyStatus:
    """``strategy``'s own status (``StrategyStatus.of``), not its parts'."""
    return StrategyStatus.of(strategy)


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
        tried: set[int] = set()  # parts another part already ran (s3's network delegate)
        for strategy in self._strategies:
            if not strategy.is_available():
                reason = strategy.unavailable_reason() or "unavailable"
                attempts.append(Attempt(strategy.name, skipped=reason,
                                        uses_network=strategy.uses_network))
                self._observer.attempt_finished(AttemptEvent(
                    strategy.name, info.cache_key, "skipped", 0.0, reason=reason))
                continue
            if id(strategy) in tried:
                # Its error is already an attempt's: the same request would reach the Hub
                # twice. Skipped, so that error stays the decisive one.
                reason = "already tried by an earlier part, which raised its error"
                attempts.append(Attempt(strategy.name, skipped=reason,
                                        uses_network=strategy.uses_network))
                self._observer.attempt_finished(AttemptEvent(
                    strategy.name, info.cache_key, "skipped", 0.0, reason=reason))
                continue
            if info.refresh and not strategy.uses_network and self.uses_network:
                # --refresh: the revision is resolved again, which only the network can do.
                reason = "refresh asks the network to resolve the revision again"
                attempts.append(Attempt(strategy.name, skipped=reason,
                                        uses_network=strategy.uses_network))
                continue
            try:
                result = await observed_attempt(strategy, info, self._observer,
                                                unreported=(VocabMismatch, CacheKeyConflict))
            except (VocabMismatch, CacheKeyConflict):
                raise
            except AcquisitionError as error:
                tried.update(getattr(error, _TRIED, ()))
                attempts.append(Attempt(strategy.name, error=error,
                                        uses_network=strategy.uses_network))
                continue
            return _with_attempts(result, attempts)
        raise_decisive(info.cache_key, attempts)

    async def plan(self, info: TokenizerDownloadInfo) -> AcquisitionPlan:
        """The plan of the first available part that can make one, network parts first
        (only they know where the revision points now)."""
        available = [s for s in self._strategies if s.is_available()]
        ordered = [s for s in available if s.uses_network] + \
            [s for s in available if not s.uses_network]
        attempts: list[Attempt] = []
        for strategy in ordered:
            try:
                return await strategy.plan(info)
            except (VocabMismatch, CacheKeyConflict):
                raise
            except NotImplementedError:
                continue  # a strategy of the caller's own that cannot plan
            except AcquisitionError as error:
                attempts.append(Attempt(strategy.name, error=error,
                                        uses_network=strategy.uses_network))
        raise_decisive(info.cache_key, attempts)
        raise AssertionError("unreachable")  # raise_decisive always raises

    async def aclose(self) -> None:
        for strategy in self._strategies:
            await strategy.aclose()


#: The attribute ``mark_tried`` sets on an error: ids of the parts that raised it.
_TRIED = "_tokacq_tried_parts"


def mark_tried(error: AcquisitionError, part: TokenizerAcquisition) -> None:
    """Record that ``part`` (another strategy's delegate, e.g. s3's network strategy) ran
    and raised ``error``: a hybrid that holds ``part`` too does not run it again for the
    same request (the Hub would see the failing request twice)."""
    setattr(error, _TRIED, (*getattr(error, _TRIED, ()), id(part)))


def raise_decisive(cache_key: str, attempts: list[Attempt]) -> NoReturn:
    """Raise the error the module docstring's rule picks for these failed ``attempts``."""
    everything = AllStrategiesFailed(cache_key, attempts)
    decisive = [a.error for a in attempts if a.error is not None and not a.missed]
    if len(decisive) != 1:
        raise everything
    # A copy: a shared download (single-flight) hands one error object to many callers,
    # and each raise here sets its own cause and traceback.
    raise copy.copy(decisive[0]) from everything


def _with_attempts(result: AcquisitionResult, attempts: list[Attempt]) -> AcquisitionResult:
    if not attempts:
        return result
    return replace(result, attempts=tuple(attempts))
