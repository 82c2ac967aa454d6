"""Downloading a tokenizer: cache first, then fetch, verify and publish the set at once.

The strategy owns the decisions (what is missing, which commit the set is of, what each
file must match, when a resumed file gets one more chance from zero); the transport
behind ``RemoteFiles`` owns the wire (redirects, retries, ranges, the token); the cache
behind ``TokenizerCache`` owns the layout (blobs, snapshots, the atomic swap).

One commit per set (issue 9): a request pinned to a commit fetches every file at it; a
revision name (a branch, a tag) is resolved once per acquisition: files are fetched by
name concurrently (one round trip), the commit the primary file was answered from (its
``X-Repo-Commit``) is the set's, and any file answered from another commit (the branch
moved meanwhile) is fetched again at that commit. A file answered from another commit
than the one asked for is an ``IntegrityError``, never part of a set. When the cache
already holds part of the set, the rest is fetched at the cached set's commit.

Discovery (issue 11): a request without explicit files (or with ``include`` patterns or
optional files) is first served from the set the cache recorded for the same selection
and revision (zero requests). Otherwise the repo is listed once
(``RemoteFiles.list_files``: the commit and every file's size and digests), the listing
is checked (``discovery.checked_listing``), the preset picks the files, and they are
fetched at the listed commit, so discovery adds one round trip. The listed size, LFS
sha256 and git blob id are the expected values of each file (``_check``), besides what
the headers say: a mirror with opaque ETags that serves the API is fully verified.
``refresh`` lists a branch again even when the cache holds a set for it; the cached
set is kept when the commit did not move.

Many callers, many processes (issue 4):

- a cache hit is a few stats: no request, no write, no lock, so it works on a read-only
  cache;
- a miss joins the single flight for the same (cache key, repo, revision, files, pins)
  in this event loop (``single_flight.py``), and that one flight takes the cache key's
  inter-process lock (``ports/lock.py``) around ``download_missing``, which re-reads the
  cache: a process that waited for another finds the set published and fetches none;
- work survives kills: each verified file goes to the content store and the set's
  journal at once, so the next run reuses it, and a lock file's pinned blobs are reused
  without a request;
- disk work stays off the loop (reserving partials, storing blobs, publishing).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..ports.acquisition import TokenizerAcquisition
from ..ports.cache import TokenizerCache
from ..ports.events import AcquisitionObserver, NullObserver
from ..ports.lock import CacheKeyLock, NoLock
from ..ports.progress import ProgressListener
from ..ports.remote import Fetched, RemoteFile, RemoteFiles, TransferProgress
from .cache_policy import Located, decide, recorded_files
from .discovery import RepoEntry, checked_listing, select
from .errors import (
    CacheKeyConflict,
    IntegrityError,
    ListingUnavailable,
    OfflineModeError,
    TokenizerNotFound,
)
from .hub_protocol import resolve_url
from .local import LocalAcquisition
from .manifest import ManifestEntry, Snapshot
from .options import DEFAULT_LOCK_TIMEOUT, NetworkOptions
from .request import TokenizerDownloadInfo, check_file
from .results import AcquisitionPlan, AcquisitionResult, PlannedFile
from .single_flight import SingleFlight
from .verification import Digests, Expected, expected_for, git_blob_prefix, verify
from .vocab_check import VocabChecker


def staging_tag(info: TokenizerDownloadInfo) -> str:
    """Stable across runs so a later process finds the partial; differs per repo/revision."""
    return hashlib.sha256(f"{info.repo}\0{info.revision}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DownloadReport:
    """What ``download_missing`` did: files fetched, bytes received, the set's commit, and
    the set as published (or found already published)."""

    files: tuple[str, ...] = ()
    bytes_received: int = 0
    commit: str | None = None
    located: Located | None = field(default=None, compare=False)
    #: The explicit request the set was acquired for (a discovered one, resolved).
    request: TokenizerDownloadInfo | None = field(default=None, compare=False)


def flight_key(info: TokenizerDownloadInfo) -> tuple[object, ...]:
    """What makes two requests the same download (vocab checks stay per caller)."""
    pins = tuple(sorted(info.sha256.items())) if info.sha256 else ()
    return (info.cache_key, info.repo, info.revision, tuple(info.files), pins,
            info.discovers, info.include, info.exclude, info.optional_files, info.refresh)


@dataclass(frozen=True)
class _Resolved:
    """A request as one listing resolved it: the explicit files, the commit, each file's
    listed size and digests, and the optional files the repo lacks."""

    request: TokenizerDownloadInfo
    commit: str | None
    listed: Mapping[str, RepoEntry]
    skipped: tuple[str, ...] = ()

    @property
    def judged(self) -> TokenizerDownloadInfo:
        """The request as the cache must judge it: at the listed commit, when known."""
        if self.commit is None or self.request.is_pinned_commit:
            return self.request
        return replace(self.request, revision=self.commit)


@dataclass(frozen=True)
class _Got:
    """One file verified and stored: its record (``commit`` as the server said), the
    bytes that crossed the network for it."""

    entry: ManifestEntry
    received: int = 0


class _ObserverProgress(TransferProgress):
    def __init__(self, observer: ProgressListener, cache_key: str, file: str) -> None:
        self._observer, self._key, self._file = observer, cache_key, file
        self._started = False

    def started(self, total: int | None) -> None:
        if not self._started:  # a restart from zero is the same file's download
            self._started = True
            self._observer.file_started(self._key, self._file, total)

    def advanced(self, nbytes: int) -> None:
        self._observer.file_advanced(self._key, self._file, nbytes)

    def resumed(self, offset: int) -> None:
        self._observer.file_resumed(self._key, self._file, offset)

    def restarted(self) -> None:
        self._observer.file_restarted(self._key, self._file)


class NetworkStrategy(TokenizerAcquisition):
    """Serve from the cache when complete (zero requests), else download what is missing.

    ``lock`` excludes other processes per cache key while downloading (default: none),
    waiting at most ``lock_timeout`` seconds before ``LockTimeout``. Progress goes to
    ``observer`` (a ``ProgressListener``), once per download however many callers share it.
    """

    name = "network"
    uses_network = True

    def __init__(self, cache: TokenizerCache, remote: RemoteFiles, options: NetworkOptions,
                 *, observer: AcquisitionObserver | None = None,
                 vocab: VocabChecker | None = None, lock: CacheKeyLock | None = None,
                 lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self._cache = cache
        self._remote = remote
        self._options = options
        self._observer = observer or NullObserver()
        self._local = LocalAcquisition(cache, name=self.name, vocab=vocab or VocabChecker())
        self._lock = lock or NoLock()
        self._lock_timeout = lock_timeout
        self._flights: SingleFlight[DownloadReport] = SingleFlight()
        #: Partials handed to their storing thread, which also ends their reservation.
        self._storing: set[Path] = set()

    @property
    def lock_timeout(self) -> float:
        return self._lock_timeout

    @property
    def options(self) -> NetworkOptions:
        return self._options

    @property
    def cache(self) -> TokenizerCache:
        return self._cache

    @property
    def description(self) -> str:
        return (f"network: download from {self._options.endpoint} into "
                f"{self._cache.description}")

    def is_available(self) -> bool:
        return not self._options.offline

    def unavailable_reason(self) -> str | None:
        source = self._options.offline_source
        return None if source is None else f"offline mode is on ({source})"

    def requirements(self) -> list[str]:
        out = [f"network access to {self._options.endpoint}",
               f"write access to {self._cache.description}"]
        if self._options.offline_source is not None:
            out.insert(0, f"unset {self._options.offline_source} to allow downloads")
        return out

    async def acquire(self, info: TokenizerDownloadInfo) -> AcquisitionResult:
        started = time.perf_counter()
        if self._options.offline_source is not None:
            raise OfflineModeError(self.name, source=self._options.offline_source)
        for _ in range(_SERVE_ATTEMPTS):
            located = self._cache.locate(info)
            decision = decide(info, located)
            if decision.conflict is not None:
                raise _conflict(info, decision.conflict)
            request = info
            if info.needs_listing and not info.refresh:
                recorded = recorded_files(info, located)
                if recorded is not None:  # the set this selection got last time
                    request = info.resolved(recorded)
                    located = self._cache.locate(request)
                    decision = decide(request, located)
            if decision.hit and not info.refresh:  # one lookup: the hot path of a service
                try:
                    return await self._local.serve(request, located, started)
                except FileNotFoundError:
                    continue  # removed under us (a prune): look again
            shared = await self._flights.run(flight_key(info), lambda: self._download(info))
            # Bytes count once, for the caller that started the download (metrics add them).
            report = shared.value if shared.leader else replace(shared.value, bytes_received=0)
            request = report.request or info
            published = report.located or self._cache.locate(request)
            if not decide(request, published).hit or not _still_there(published, request):
                continue  # pruned between publication and now: acquire again
            try:
                served = await self._local.serve(request, published, started)
            except FileNotFoundError:
                continue
            return replace(served, from_cache=not report.files,
                           bytes_downloaded=report.bytes_received,
                           commit=served.commit or report.commit)
        raise TokenizerNotFound(
            info.cache_key, info.files, directory=self._cache.directory(info.cache_key),
            suggestions=["the set was removed while being acquired (a concurrent "
                         "'tokacq cache prune'?); retry"])

    async def _download(self, info: TokenizerDownloadInfo) -> DownloadReport:
        """One flight: the cache key's lock around the download; never on a hit.

        Writability is checked once, before the lock, so a read-only cache fails with
        ``CacheWriteError`` naming the cache rather than its lock directory.
        """
        await asyncio.to_thread(self._cache.ensure_writable)
        async with self._lock.hold(info.cache_key, self._lock_timeout):
            return await self._download_missing(info)

    async def download_missing(self, info: TokenizerDownloadInfo) -> DownloadReport:
        """Fetch, verify and publish the request's set unless the cache holds it.

        The seam for coordination: single-flight per request and a cross-process lock per
        cache key wrap this call. It re-reads the cache first, so a caller that waited for
        another one's download finds the set published and fetches nothing.
        """
        await asyncio.to_thread(self._cache.ensure_writable)
        return await self._download_missing(info)

    async def _download_missing(self, origin: TokenizerDownloadInfo) -> DownloadReport:
        located = await asyncio.to_thread(self._cache.locate, origin)
        decision = decide(origin, located)
        if decision.conflict is not None:
            raise _conflict(origin, decision.conflict)
        if decision.hit and not origin.refresh:
            return DownloadReport(located=located, commit=located.commit)
        if origin.needs_listing and not origin.refresh:
            recorded = recorded_files(origin, located)
            if recorded is not None:  # published by the flight or process we waited for
                request = origin.resolved(recorded)
                found = await asyncio.to_thread(self._cache.locate, request)
                if decide(request, found).hit:
                    return DownloadReport(located=found, commit=found.commit, request=request)
        resolved = None
        if origin.needs_listing or (origin.refresh and not origin.is_pinned_commit):
            resolved = await self._resolve(origin)
        info = resolved.request if resolved is not None else origin
        judged = resolved.judged if resolved is not None else info
        listed = resolved.listed if resolved is not None else {}
        if resolved is not None:  # else the lookup above is of this very request
            located = await asyncio.to_thread(self._cache.locate, info)
            decision = decide(judged, located)
        if decision.hit:  # a refresh that found the branch where the cache has it
            return DownloadReport(located=located, commit=located.commit, request=info)
        await asyncio.to_thread(self._cache.check_publishable, info.cache_key)
        # Files of the current set that stay valid: kept, and the rest fetched at its commit.
        commit = judged.revision if judged.is_pinned_commit else None
        carried: dict[str, ManifestEntry] = {}
        if located.managed and located.commit and decision.usable:
            commit = located.commit
            carried = await self._carry(located, decision.needed)
        needed = list(decision.needed)
        if resolved is not None and resolved.commit is not None and not carried:
            # The branch moved: files the listing shows unchanged are kept, not fetched.
            carried = await self._carry_unchanged(info, located, needed, listed,
                                                  resolved.commit)
            needed = [name for name in needed if name not in carried]
        tag = staging_tag(info)
        got = await self._reuse(info, tag, needed, commit)
        fetch = [name for name in needed if name not in got]
        got.update(await self._fetch_all(info, tag, fetch, commit, got, listed))
        commit = commit or _first_commit(info, got)
        if commit is not None:
            moved = [n for n in info.files if n in got and got[n].entry.commit != commit]
            if moved:
                # The branch moved while the set was fetched: those files again, at `commit`.
                got.update(await self._fetch_all(info, tag, moved, commit, got, listed))
        snapshot = Snapshot(
            cache_key=info.cache_key, repo=info.repo, revision=info.revision, commit=commit,
            files={**carried, **{n: g.entry for n, g in got.items()}},
            created_at=time.time(),
            selection=origin.selection if origin.needs_listing else None)
        published = await asyncio.shield(asyncio.to_thread(self._cache.publish, snapshot, tag))
        return DownloadReport(files=tuple(fetch), commit=commit, located=published,
                              bytes_received=sum(g.received for g in got.values()),
                              request=info)

    async def _resolve(self, info: TokenizerDownloadInfo) -> _Resolved:
        """One listing: the commit the revision names now, and the request's files."""
        try:
            listed = await self._remote.list_files(info.repo, info.revision)
        except NotImplementedError as exc:
            raise ListingUnavailable(info.repo, info.revision, reason=str(exc)) from None
        listing = checked_listing(listed, check_file=check_file)
        chosen = select(listing, info.selection if info.needs_listing
                        else replace(info.selection, preset=None), cache_key=info.cache_key)
        request = info.resolved(chosen.files) if info.needs_listing else info
        commit = listing.commit if listing.commit and _is_commit(listing.commit) else None
        if info.is_pinned_commit and commit is not None and commit != info.revision:
            raise IntegrityError("listing", expected=f"commit {info.revision}",
                                 actual=f"commit {commit}", check="commit")
        return _Resolved(request, commit, chosen.entries, chosen.optional_absent)

    async def plan(self, info: TokenizerDownloadInfo) -> AcquisitionPlan:
        """What ``acquire`` would fetch now: one listing, no download, no write."""
        if self._options.offline_source is not None:
            raise OfflineModeError(self.name, source=self._options.offline_source)
        resolved = await self._resolve(info)
        request = resolved.request
        located = await asyncio.to_thread(self._cache.locate, request)
        decision = decide(resolved.judged, located)
        if decision.conflict is not None:
            raise _conflict(info, decision.conflict)
        kept = set(decision.usable) | set(unchanged(located, decision.needed, resolved.listed))
        files = []
        for name in request.files:
            entry = resolved.listed.get(name) or RepoEntry(name)
            recorded = located.manifest.get(name)
            files.append(PlannedFile(
                name=name, size=entry.size, git_sha1=entry.git_sha1,
                sha256=entry.sha256 or (recorded.sha256 if recorded else None),
                cached=name in kept))
        return AcquisitionPlan(
            repo=info.repo, revision=info.revision, cache_key=info.cache_key,
            commit=resolved.commit, files=tuple(files),
            directory=self._cache.directory(info.cache_key),
            source=f"listing of {self._options.endpoint}", skipped=resolved.skipped)

    async def _carry(self, located: Located, needed: Sequence[str]
                     ) -> dict[str, ManifestEntry]:
        """The current set's other files, for the new set at the same commit: only those
        whose stored blob still hashes to its record (a new set records them as verified)."""
        out: dict[str, ManifestEntry] = {}
        for name, entry in located.manifest.items():
            if name in needed or entry.sha256 is None:
                continue
            if await asyncio.to_thread(self._cache.existing_blob, entry.sha256) is not None:
                out[name] = replace(entry, stamp=None)
        return out

    async def _carry_unchanged(self, info: TokenizerDownloadInfo, located: Located,
                               needed: Sequence[str], listed: Mapping[str, RepoEntry],
                               commit: str) -> dict[str, ManifestEntry]:
        """Cached files of another commit that the listing shows unchanged at ``commit``
        (same size and digest), whose blob still hashes to its record."""
        if not located.managed or located.repo != info.repo or located.problem is not None:
            return {}
        out: dict[str, ManifestEntry] = {}
        for name in unchanged(located, needed, listed):
            entry = located.manifest[name]
            if await asyncio.to_thread(self._cache.existing_blob, str(entry.sha256)):
                out[name] = replace(entry, stamp=None, commit=commit)
        return out

    async def _reuse(self, info: TokenizerDownloadInfo, tag: str, needed: Sequence[str],
                     commit: str | None) -> dict[str, _Got]:
        """Files already verified: an interrupted run's (its journal), or a lock file's
        pinned blobs when the commit is pinned too. Each blob is hashed again first."""
        journal = await asyncio.to_thread(self._cache.pending, info.cache_key, tag)
        known: dict[str, ManifestEntry] = {}
        if journal is not None and journal.repo == info.repo \
                and journal.revision == info.revision:
            known = {n: e for n, e in journal.files.items()
                     if n in needed and (commit is None or e.commit == commit)}
        if info.is_pinned_commit and info.sha256:
            for name in needed:
                pin = info.sha256.get(name)
                if pin is not None and name not in known:
                    known[name] = ManifestEntry(size=-1, sha256=pin, commit=info.revision,
                                                revision=info.revision, repo=info.repo,
                                                source="content store (pinned)")
        out: dict[str, _Got] = {}
        for name, entry in known.items():
            pin = info.sha256.get(name) if info.sha256 else None
            if entry.sha256 is None or (pin is not None and entry.sha256 != pin):
                continue
            blob = await asyncio.to_thread(self._cache.existing_blob, entry.sha256)
            if blob is None:
                continue
            size = (await asyncio.to_thread(blob.stat)).st_size
            out[name] = _Got(replace(entry, size=size))
        return out

    async def _fetch_all(self, info: TokenizerDownloadInfo, tag: str, files: Sequence[str],
                         commit: str | None, got: Mapping[str, _Got],
                         listed: Mapping[str, RepoEntry] | None = None) -> dict[str, _Got]:
        """Fetch, verify and store ``files`` concurrently (bounded); each stored one joins
        the journal at once, also when a sibling fails."""
        if not files:
            return {}
        gate = asyncio.Semaphore(self._options.max_concurrent_files)
        done: dict[str, _Got] = {}
        recorded: dict[str, ManifestEntry] = {}
        journal = threading.Lock()

        def record(file: str, entry: ManifestEntry) -> None:
            # In the storing thread, before the blob's rename: a kill after that rename
            # finds the file in the journal (an entry whose blob is absent is skipped by
            # ``_reuse``). Not fsynced: losing it only costs a download.
            with journal:
                recorded[file] = entry
                entries = {**{n: g.entry for n, g in got.items()}, **recorded}
                with contextlib.suppress(Exception):
                    self._cache.remember(info.cache_key, tag, _journal(info, entries))

        async def bounded(file: str) -> None:
            async with gate:
                done[file] = await self._fetch_one(info, tag, file, commit, record,
                                                   (listed or {}).get(file))

        tasks = [asyncio.create_task(bounded(file)) for file in files]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            # The first failure decides; the others stop (their partials stay resumable).
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return done

    async def _fetch_one(self, info: TokenizerDownloadInfo, tag: str, file: str,
                         commit: str | None, record: _Record | None = None,
                         listed: RepoEntry | None = None) -> _Got:
        staged = await self._reserve(info, file)
        try:
            return await self._fetch_into(info, file, staged, commit, record, listed)
        except BaseException:
            if staged in self._storing:  # its storing releases it (once), even cancelled
                self._storing.discard(staged)
            else:  # submitted to the thread pool before this task can be interrupted again
                await asyncio.to_thread(self._cache.release_staging, staged)
            raise

    async def _reserve(self, info: TokenizerDownloadInfo, file: str) -> Path:
        """The partial to write, reserved in a thread (listing, stats, renames: disk work).

        A reservation the thread completes after its caller was cancelled is released, so
        that partial stays adoptable by a later download of this process.
        """
        reserving = asyncio.ensure_future(asyncio.to_thread(
            self._cache.reserve_staging, info.cache_key, file, staging_tag(info)))
        try:
            return await asyncio.shield(reserving)
        except asyncio.CancelledError:
            reserving.add_done_callback(self._release_orphan)
            raise

    def _release_orphan(self, reserving: asyncio.Future[Path]) -> None:
        if not reserving.cancelled() and reserving.exception() is None:
            asyncio.get_running_loop().run_in_executor(
                None, self._cache.release_staging, reserving.result())

    async def _fetch_into(self, info: TokenizerDownloadInfo, file: str, staged: Path,
                          commit: str | None, record: _Record | None = None,
                          listed: RepoEntry | None = None) -> _Got:
        revision = commit or info.revision
        pin = info.sha256.get(file) if info.sha256 else None
        if pin is not None and listed is not None and listed.sha256 not in (None, pin):
            raise IntegrityError(file, expected=pin, actual=listed.sha256,
                                 check="sha256 pin (listed)")
        # A listed LFS sha256 checks the content as a pin does: the transport may accept
        # an answer without a validator, since the digest will decide.
        expected_sha256 = pin or (listed.sha256 if listed is not None else None)
        remote = RemoteFile(
            url=resolve_url(self._options.endpoint, info.repo, revision, file),
            file=file,
            staged=staged,
            repo=info.repo,
            revision=revision,
            max_bytes=self._options.max_file_bytes,
            sha256=expected_sha256,
        )
        progress = _ObserverProgress(self._observer, info.cache_key, file)
        fetched = await self._with_git_sha1(
            await self._remote.download(remote, progress=progress), listed)
        failure = _check(file, fetched, pin, commit, listed)
        received = fetched.received
        if failure is not None and fetched.resumed:
            # Mirrors may ignore If-Range: the kept prefix may belong to another version.
            fetched = await self._with_git_sha1(
                await self._remote.download(remote, resume=False, progress=progress), listed)
            received += fetched.received
            failure = _check(file, fetched, pin, commit, listed)
        if failure is not None:
            await asyncio.to_thread(self._remote.discard, remote.staged)
            raise failure
        entry = ManifestEntry(
            size=fetched.size, sha256=fetched.sha256, etag=fetched.etag,
            commit=fetched.commit or commit, revision=info.revision, repo=info.repo,
            source=remote.url, fetched_at=time.time(),
        )
        def keep() -> None:
            # One hand-off for the journal, the rename into the content store, the
            # partial's leftovers and its reservation; journaled first: a kill after the
            # rename loses nothing.
            try:
                if record is not None:
                    record(file, entry)
                self._cache.store_blob(fetched.path, fetched.sha256)
                self._remote.discard(remote.staged)
            finally:
                self._cache.release_staging(staged)

        self._storing.add(staged)
        await asyncio.shield(asyncio.to_thread(keep))
        self._storing.discard(staged)
        self._observer.file_finished(info.cache_key, file)
        return _Got(entry, received)

    async def _with_git_sha1(self, fetched: Fetched, listed: RepoEntry | None) -> Fetched:
        """The git blob sha1 of the bytes when the listing names one and the transport did
        not measure it (its ETag was not a git sha1): read back from the staged file."""
        if listed is None or listed.git_sha1 is None or fetched.git_sha1 is not None:
            return fetched
        digest = await asyncio.to_thread(_git_sha1_of, fetched.path, fetched.size)
        return replace(fetched, git_sha1=digest)

    async def aclose(self) -> None:
        await self._remote.aclose()


#: A set removed between its publication (or lookup) and serving it is acquired again
#: this many times in all before ``TokenizerNotFound``.
_SERVE_ATTEMPTS = 3


#: Journals a verified file before its blob is renamed into the content store.
_Record = Callable[[str, ManifestEntry], None]


def _check(file: str, fetched: Fetched, pin: str | None, commit: str | None,
           listed: RepoEntry | None = None) -> IntegrityError | None:
    """The response's own facts (ETag, length), the caller's pin, then the listing's."""
    if commit is not None and fetched.commit is not None and fetched.commit != commit:
        return IntegrityError(file, expected=f"commit {commit}",
                              actual=f"commit {fetched.commit}", check="commit")
    expected = expected_for(fetched.etag, fetched.announced_size, pin)
    digests = Digests(size=fetched.size, sha256=fetched.sha256, git_sha1=fetched.git_sha1)
    failure = verify(file, expected, digests)
    if failure is None and listed is not None:
        failure = verify(file, Expected(size=listed.size, sha256=listed.sha256,
                                        git_sha1=listed.git_sha1), digests)
    return failure


def unchanged(located: Located, names: Sequence[str], listed: Mapping[str, RepoEntry]
              ) -> list[str]:
    """Files of a managed set whose verified bytes are what the listing names: same size,
    and the same LFS sha256 or git blob id (recorded as the Hub's ETag)."""
    out = []
    for name in names:
        entry, facts, want = located.manifest.get(name), located.found.get(name), listed.get(name)
        if entry is None or facts is None or want is None or entry.sha256 is None:
            continue
        if facts.sha256 != entry.sha256 or want.size != entry.size:
            continue
        if (want.sha256 is not None and want.sha256 == entry.sha256) or (
                want.git_sha1 is not None and want.git_sha1 == entry.etag):
            out.append(name)
    return out


def _git_sha1_of(path: Path, size: int) -> str:
    digest = hashlib.sha1(git_blob_prefix(size), usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _is_commit(value: str) -> bool:
    return len(value) == 40 and all(c in "0123456789abcdef" for c in value)


def _first_commit(info: TokenizerDownloadInfo, got: Mapping[str, _Got]) -> str | None:
    """The set's commit when the request named a branch or tag: the primary file's, else
    the first file's (in request order) that the server named one for."""
    for name in (info.primary, *info.files):
        if name in got and got[name].entry.commit:
            return got[name].entry.commit
    return None


def _journal(info: TokenizerDownloadInfo, entries: Mapping[str, ManifestEntry]) -> Snapshot:
    return Snapshot(cache_key=info.cache_key, repo=info.repo, revision=info.revision,
                    commit=None, files=dict(entries), created_at=time.time())


def _conflict(info: TokenizerDownloadInfo, cached_repo: str) -> CacheKeyConflict:
    return CacheKeyConflict(info.cache_key, cached_repo=cached_repo, requested_repo=info.repo)


def _still_there(located: Located, info: TokenizerDownloadInfo) -> bool:
    """Every file of a just-published set still exists (one stat each)."""
    for name in info.files:
        facts = located.found.get(name)
        if facts is None:
            return False
        try:
            facts.path.stat()
        except OSError:
            return False
    return True
