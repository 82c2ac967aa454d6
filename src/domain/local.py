"""Serving a tokenizer from a directory that already holds it: no network, no writes."""

from __future__ import annotations

import time

from ..ports.acquisition import TokenizerAcquisition
from ..ports.source import TokenizerSource
from .cache_policy import CacheDecision, Located, decide
from .errors import CacheKeyConflict, TokenizerNotFound, summarize_names
from .request import TokenizerDownloadInfo
from .results import AcquisitionResult
from .vocab_check import VocabChecker


def result_from(
    info: TokenizerDownloadInfo,
    located: Located,
    strategy: str,
    *,
    started: float,
    from_cache: bool = True,
    bytes_downloaded: int = 0,
) -> AcquisitionResult:
    """The result for a complete set of files in ``located``."""
    files = {name: located.found[name].path for name in info.files}
    return AcquisitionResult(
        path=files[info.primary],
        directory=located.directory,
        files=files,
        strategy=strategy,
        from_cache=from_cache,
        bytes_downloaded=bytes_downloaded,
        elapsed_s=time.perf_counter() - started,
        commit=located.commit or _manifest_commit(located, info),
    )


def _manifest_commit(located: Located, info: TokenizerDownloadInfo) -> str | None:
    entry = located.manifest.get(info.primary)
    return entry.commit if entry else None


def not_found(info: TokenizerDownloadInfo, located: Located, decision: CacheDecision,
              source: TokenizerSource) -> TokenizerNotFound:
    """A miss that tells absent files from present but unusable ones."""
    suggestions = []
    if decision.missing and located.managed:
        # Files placed by hand in a published set are never served: they have no record.
        suggestions.append(f"fetch {summarize_names(decision.missing)} online (the set at "
                           f"{located.directory} was published by tokacq)")
    elif decision.missing:
        suggestions.append(source.placement_hint(info, located,
                                                 summarize_names(decision.missing)))
    if located.problem is not None:
        suggestions.append(f"the cached set cannot be trusted ({located.problem}); "
                           "fetch it again online")
    elif decision.stale:
        suggestions.append(
            f"{summarize_names(decision.stale)} present but not verified for this request "
            "(another revision, bytes not matching their record or sha256 pin, or not "
            "recorded); fetch again online, or run 'tokacq cache verify'")
    suggestions.append("enable downloads (strategy 'network' or 'hybrid') when online")
    return TokenizerNotFound(info.cache_key, decision.needed, directory=located.directory,
                             suggestions=suggestions, stale_files=decision.stale)


class LocalAcquisition(TokenizerAcquisition):
    """Cache-only (and friends): a complete hit or ``TokenizerNotFound``; air-gap safe."""

    uses_network = False

    def __init__(self, source: TokenizerSource, *, name: str = "cache-only",
                 vocab: VocabChecker | None = None) -> None:
        self.name = name
        self._source = source
        self._vocab = vocab or VocabChecker()
        self._last_decision: tuple[TokenizerDownloadInfo, Located, CacheDecision] | None = None

    @property
    def source(self) -> TokenizerSource:
        return self._source

    @property
    def description(self) -> str:
        return f"{self.name}: serve files already in {self._source.description}; never downloads"

    def is_available(self) -> bool:
        # A missing directory is a miss at acquisition time, not an unavailable strategy:
        # a fresh machine's empty cache must still be usable by a hybrid order.
        return True

    def requirements(self) -> list[str]:
        return [f"the tokenizer files placed in {self._source.description}"]

    def _decide(self, info: TokenizerDownloadInfo, located: Located) -> CacheDecision:
        # Sources hand back the same Located while nothing changed on disk; a service asks
        # for the same tokenizer on every request, so the last decision usually stands.
        last = self._last_decision
        if last is not None and last[1] is located and (last[0] is info or last[0] == info):
            return last[2]
        decision = decide(info, located)
        self._last_decision = (info, located, decision)
        return decision

    async def acquire(self, info: TokenizerDownloadInfo) -> AcquisitionResult:
        started = time.perf_counter()
        located = self._source.locate(info)
        decision = self._decide(info, located)
        if decision.conflict is not None:
            raise CacheKeyConflict(info.cache_key, cached_repo=decision.conflict,
                                   requested_repo=info.repo)
        if not decision.hit:
            raise not_found(info, located, decision, self._source)
        return await self.serve(info, located, started)

    async def serve(self, info: TokenizerDownloadInfo, located: Located,
                    started: float) -> AcquisitionResult:
        """Serve a hit the caller already located (``decide(info, located).hit``): the
        vocab check and the result, without a second lookup."""
        primary = info.primary
        await self._vocab.check(info, located.found[primary],
                                lambda: self._source.read_bytes(located, primary))
        return result_from(info, located, self.name, started=started)
