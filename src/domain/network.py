"""Downloading a tokenizer: cache first, then fetch, verify and publish each missing file.

The strategy owns the decisions (what is missing, what each file must match, when a
resumed file gets one more chance from zero); the transport behind ``RemoteFiles`` owns
the wire (redirects, retries, ranges, the token).

Many callers, many processes (issue 4):

- a cache hit is a few stats and a manifest read: no request, no write, no lock, so it
  works on a read-only cache;
- a miss joins the single flight for the same (cache key, repo, revision, files, pins)
  in this event loop (``single_flight.py``), and that one flight takes the cache key's
  inter-process lock (``ports/lock.py``) around ``download_missing``, which re-reads the
  cache: a process that waited for another finds the files published and fetches none;
- disk work stays off the loop: the transport writes, hashes and fsyncs in threads, and
  reserving a partial (listing, stats, adopting an orphan) and publication (rename,
  directory fsync, manifest) run in threads here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..ports.acquisition import TokenizerAcquisition
from ..ports.cache import TokenizerCache
from ..ports.events import AcquisitionObserver, NullObserver
from ..ports.lock import CacheKeyLock, NoLock
from ..ports.progress import ProgressListener
from ..ports.remote import Fetched, RemoteFile, RemoteFiles, TransferProgress
from .cache_policy import decide
from .errors import IntegrityError, OfflineModeError
from .hub_protocol import resolve_url
from .local import LocalAcquisition
from .manifest import ManifestEntry
from .options import DEFAULT_LOCK_TIMEOUT, NetworkOptions
from .request import TokenizerDownloadInfo
from .results import AcquisitionResult
from .single_flight import SingleFlight
from .verification import Digests, expected_for, verify
from .vocab_check import VocabChecker


def staging_tag(info: TokenizerDownloadInfo) -> str:
    """Stable across runs so a later process finds the partial; differs per repo/revision."""
    return hashlib.sha256(f"{info.repo}\0{info.revision}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DownloadReport:
    """What ``download_missing`` did: files published, bytes received, commits seen."""

    files: tuple[str, ...] = ()
    bytes_received: int = 0
    commit: str | None = None


def flight_key(info: TokenizerDownloadInfo) -> tuple[object, ...]:
    """What makes two requests the same download (vocab checks stay per caller)."""
    pins = tuple(sorted(info.sha256.items())) if info.sha256 else ()
    return (info.cache_key, info.repo, info.revision, tuple(info.files), pins)


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
               f"a writable cache at {self._cache.description}"]
        if self._options.offline_source is not None:
            out.insert(0, f"unset {self._options.offline_source} to allow downloads")
        return out

    async def acquire(self, info: TokenizerDownloadInfo) -> AcquisitionResult:
        started = time.perf_counter()
        if self._options.offline_source is not None:
            raise OfflineModeError(self.name, source=self._options.offline_source)
        located = self._cache.locate(info)
        if decide(info, located).hit:  # one lookup: the hot path of a service
            return await self._local.serve(info, located, started)
        shared = await self._flights.run(flight_key(info), lambda: self._download(info))
        # Bytes count once, for the caller that started the download (metrics add them up).
        report = shared.value if shared.leader else replace(shared.value, bytes_received=0)
        served = await self._local.serve(info, self._cache.locate(info), started)
        return replace(served, from_cache=False, bytes_downloaded=report.bytes_received,
                       commit=served.commit or report.commit)

    async def _download(self, info: TokenizerDownloadInfo) -> DownloadReport:
        """One flight: the cache key's lock around the download; never on a hit.

        Writability is checked once, before the lock, so a read-only cache fails with
        ``CacheWriteError`` naming the cache rather than its lock directory.
        """
        await asyncio.to_thread(self._cache.ensure_writable)
        async with self._lock.hold(info.cache_key, self._lock_timeout):
            return await self._download_missing(info)

    async def download_missing(self, info: TokenizerDownloadInfo) -> DownloadReport:
        """Fetch, verify and publish the request's missing or stale files.

        The seam for coordination: single-flight per request and a cross-process lock per
        cache key wrap this call. It re-reads the cache first, so a caller that waited for
        another one's download finds the files published and fetches nothing.
        """
        await asyncio.to_thread(self._cache.ensure_writable)
        return await self._download_missing(info)

    async def _download_missing(self, info: TokenizerDownloadInfo) -> DownloadReport:
        needed = decide(info, self._cache.locate(info)).needed
        if not needed:
            return DownloadReport()
        fetched = await self._fetch_all(info, needed)
        commits = [f.commit for f in fetched if f.commit]
        return DownloadReport(files=tuple(needed),
                              bytes_received=sum(f.received for f in fetched),
                              commit=commits[0] if commits else None)

    async def _fetch_all(self, info: TokenizerDownloadInfo, files: Sequence[str]
                         ) -> list[Fetched]:
        """Each file is placed as soon as it is verified; the manifest is written once,
        for all of them, at the end (also when a sibling failed)."""
        gate = asyncio.Semaphore(self._options.max_concurrent_files)
        placed: dict[str, ManifestEntry] = {}

        async def bounded(file: str) -> Fetched:
            async with gate:
                return await self._fetch_one(info, file, placed)

        tasks = [asyncio.create_task(bounded(file)) for file in files]
        try:
            fetched = list(await asyncio.gather(*tasks))
        except BaseException:
            # The first failure decides; the others stop (their partials stay resumable).
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):  # the first failure stays the error
                await self._record(info, placed)
            raise
        await self._record(info, placed)
        return fetched

    async def _record(self, info: TokenizerDownloadInfo,
                      placed: dict[str, ManifestEntry]) -> None:
        if placed:
            # One manifest rewrite (write, fsync, rename, directory fsync): not on the loop.
            await asyncio.shield(asyncio.to_thread(
                self._cache.record_many, info.cache_key, dict(placed)))

    async def _fetch_one(self, info: TokenizerDownloadInfo, file: str,
                         placed: dict[str, ManifestEntry]) -> Fetched:
        staged = await self._reserve(info, file)
        try:
            return await self._fetch_into(info, file, staged, placed)
        finally:
            # Submitted to the thread pool before this task can be interrupted again.
            await asyncio.to_thread(self._cache.release_staging, staged)

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
                          placed: dict[str, ManifestEntry]) -> Fetched:
        remote = RemoteFile(
            url=resolve_url(self._options.endpoint, info.repo, info.revision, file),
            file=file,
            staged=staged,
            repo=info.repo,
            revision=info.revision,
            max_bytes=self._options.max_file_bytes,
        )
        pin = info.sha256.get(file) if info.sha256 else None
        progress = _ObserverProgress(self._observer, info.cache_key, file)
        fetched = await self._remote.download(remote, progress=progress)
        failure = _check(file, fetched, pin)
        received = fetched.received
        if failure is not None and fetched.resumed:
            # Mirrors may ignore If-Range: the kept prefix may belong to another version.
            fetched = await self._remote.download(remote, resume=False, progress=progress)
            received += fetched.received
            failure = _check(file, fetched, pin)
        if failure is not None:
            await asyncio.to_thread(self._remote.discard, remote.staged)
            raise failure
        entry = ManifestEntry(
            size=fetched.size, sha256=fetched.sha256, etag=fetched.etag,
            commit=fetched.commit, revision=info.revision, repo=info.repo,
            source=remote.url, fetched_at=time.time(),
        )
        # Counted as placed before the rename runs: a cancellation meanwhile does not stop
        # the thread, and an entry whose file is missing is simply never looked up.
        placed[file] = entry
        try:
            # A rename and a directory fsync: not on the loop.
            await asyncio.to_thread(self._cache.place, info.cache_key, file, fetched.path,
                                    entry)
        except Exception:
            placed.pop(file, None)
            raise
        self._observer.file_finished(info.cache_key, file)
        return _with_received(fetched, received)

    async def aclose(self) -> None:
        await self._remote.aclose()


def _check(file: str, fetched: Fetched, pin: str | None) -> IntegrityError | None:
    expected = expected_for(fetched.etag, fetched.announced_size, pin)
    digests = Digests(size=fetched.size, sha256=fetched.sha256, git_sha1=fetched.git_sha1)
    return verify(file, expected, digests)


def _with_received(fetched: Fetched, received: int) -> Fetched:
    return replace(fetched, received=received)
