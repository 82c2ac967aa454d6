"""Serving a tokenizer from a directory that already holds it: no network, no writes.

A request that needs a listing (discovery, ``include``, optional files) is resolved
without one (issue 11): a managed set recorded with the same selection and revision is
served as it was acquired; a directory that records no selection (placed by hand, an HF
cache snapshot, a local directory) is offered to the preset as a listing of what it
holds. Otherwise it is a miss that names what the cache holds.
"""

from __future__ import annotations

import time

from ..ports.acquisition import TokenizerAcquisition
from ..ports.source import TokenizerSource
from .cache_policy import CacheDecision, Located, decide, recorded_files
from .discovery import TOKENIZER_DEFINING, select_present
from .errors import CacheKeyConflict, TokenizerNotFound, summarize_names
from .request import TokenizerDownloadInfo
from .results import AcquisitionPlan, AcquisitionResult, PlannedFile
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


def resolve_locally(info: TokenizerDownloadInfo, source: TokenizerSource
                    ) -> tuple[TokenizerDownloadInfo | None, Located]:
    """A request needing a listing, resolved from what ``source`` recorded or holds.

    Returns the explicit request and its lookup, or None and the key's lookup (a miss).
    """
    located = source.locate(info)
    files = recorded_files(info, located)
    if files is None and not located.managed:
        names = source.present_files(info)
        if names:
            try:
                files = select_present(names, info.selection, cache_key=info.cache_key,
                                       repo=info.repo, revision=info.revision).files
            except TokenizerNotFound:
                files = None
    if files is None:
        return None, located
    request = info.resolved(files)
    return request, source.locate(request)


def discovery_miss(info: TokenizerDownloadInfo, located: Located,
                   source: TokenizerSource) -> TokenizerNotFound:
    """No set for this selection: say what the key holds and what would be selected."""
    suggestions = []
    if located.managed and located.manifest:
        how = "explicitly named files" if located.selection is None else (
            "another selection" if located.selection != info.selection else "this selection")
        suggestions.append(
            f"{located.directory} holds {summarize_names(sorted(located.manifest))} of "
            f"{located.repo} at {located.revision}, acquired with {how}; acquire online with "
            "this selection, or name the files (-f FILE / files=...)")
    else:
        suggestions.append(source.placement_hint(
            info, located, f"the tokenizer files ({', '.join(TOKENIZER_DEFINING[:3])}, ...)"))
    suggestions.append("enable downloads (strategy 'network' or 'hybrid') when online, "
                       "so the repo can be listed")
    wanted = info.files or tuple(info.optional_files) or ("(the tokenizer preset)",)
    return TokenizerNotFound(info.cache_key, wanted, directory=located.directory,
                             suggestions=suggestions)


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
        if info.needs_listing:
            request, located = resolve_locally(info, self._source)
            if request is None:
                conflict = decide(info, located).conflict
                if conflict is not None:
                    raise CacheKeyConflict(info.cache_key, cached_repo=conflict,
                                           requested_repo=info.repo)
                raise discovery_miss(info, located, self._source)
            info = request
        else:
            located = self._source.locate(info)
        decision = self._decide(info, located)
        if decision.conflict is not None:
            raise CacheKeyConflict(info.cache_key, cached_repo=decision.conflict,
                                   requested_repo=info.repo)
        if not decision.hit:
            raise not_found(info, located, decision, self._source)
        return await self.serve(info, located, started)

    async def plan(self, info: TokenizerDownloadInfo) -> AcquisitionPlan:
        """What this source would serve: the recorded (or present) set; no request."""
        if info.needs_listing:
            request, located = resolve_locally(info, self._source)
            if request is None:
                raise discovery_miss(info, located, self._source)
        else:
            request, located = info, self._source.locate(info)
        decision = decide(request, located)
        files = []
        for name in request.files:
            facts = located.found.get(name)
            entry = located.manifest.get(name)
            files.append(PlannedFile(
                name=name, size=facts.size if facts else (entry.size if entry else None),
                sha256=entry.sha256 if entry else None, cached=name in decision.usable))
        return AcquisitionPlan(repo=info.repo, revision=info.revision,
                               cache_key=info.cache_key, commit=located.commit,
                               files=tuple(files), directory=located.directory,
                               source=self._source.description)

    async def serve(self, info: TokenizerDownloadInfo, located: Located,
                    started: float) -> AcquisitionResult:
        """Serve a hit the caller already located (``decide(info, located).hit``): the
        vocab check and the result, without a second lookup."""
        primary = info.primary
        await self._vocab.check(info, located.found[primary],
                                lambda: self._source.read_bytes(located, primary))
        return result_from(info, located, self.name, started=started)
