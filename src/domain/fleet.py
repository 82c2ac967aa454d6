"""The ``s3`` strategy: a fleet shares one bucket, and each tokenizer leaves the Hub once.

Per acquisition (issue 12):

1. the local cache first: a hit makes no request at all;
2. the bucket: ref -> set manifest -> blobs (layout in ``bucket_layout.py``); every blob
   is hashed and must match the manifest's sha256 before it is stored in the local
   cache (``store_blob``) and the set published there (``publish``): the bucket is not
   trusted. A manifest contradicting the request's pins is rejected (``IntegrityError``);
3. a miss, with a strategy to delegate to (the network one) and ``write_through`` on:
   the pod that takes the set's lease (``If-None-Match: *``) is the leader; it fetches
   from the Hub through the delegate, then uploads the blobs, then the manifest (the
   commit point), then the ref, and drops the lease. The others poll the bucket with
   backoff, at most ``lock_timeout`` seconds, and read the set once it is there. A
   lease older than ``lease_ttl`` (by the store's clock) is taken over with
   ``If-Match`` on its ETag, so a leader that died never blocks the fleet, and since
   its manifest was never written, nobody ever sees its partial upload. The leader
   renews its lease every ``lease_ttl / 3`` (``If-Match`` on its current ETag), so a
   slow Hub download is not taken over; one whose lease was taken over anyway carries
   on, and deletes neither the other's lease nor its manifest. An error from the Hub is
   marked as the delegate's (``mark_tried``): a hybrid does not run that part again.

Writes are best effort: credentials that may only read get ``Put.DENIED``, which is a
debug event and a plain Hub download, never an error; a failed upload never fails an
acquisition the Hub served. Blobs are never written over (``If-None-Match: *``), so a
damaged object stays as it is for an operator to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..ports.acquisition import TokenizerAcquisition
from ..ports.bucket import ObjectStore, Put
from ..ports.cache import TokenizerCache
from .bucket_layout import (
    MAX_DOCUMENT_BYTES,
    BucketSet,
    Lease,
    S3Options,
    blob_key,
    contradiction,
    lease_expired,
    lease_key,
    parse_ref,
    ref_key,
    set_key,
)
from .cache_policy import decide
from .errors import (
    AcquisitionError,
    CacheKeyConflict,
    IntegrityError,
    LockTimeout,
    OfflineModeError,
    TokenizerNotFound,
)
from .hybrid import mark_tried
from .local import LocalAcquisition
from .manifest import ManifestEntry, ManifestError, Snapshot
from .network import flight_key, staging_tag
from .options import DEFAULT_LOCK_TIMEOUT
from .request import TokenizerDownloadInfo
from .results import AcquisitionResult
from .single_flight import SingleFlight
from .vocab_check import VocabChecker

#: Followers poll the bucket this often at first, then back off to at most the maximum.
POLL_FIRST_S = 0.05
POLL_MAX_S = 1.0
#: The leader's heartbeat never beats faster than this, whatever ``lease_ttl`` is.
MIN_RENEW_S = 0.05
#: How many times a manifest write is retried after another writer's (a lost race).
_MANIFEST_ATTEMPTS = 4


@dataclass(frozen=True)
class _Report:
    """What one flight did: bytes that crossed the network, and who served them."""

    bytes_received: int
    via: str


def _holder() -> str:
    return f"{socket.gethostname()[:64]}-{os.getpid()}-{secrets.token_hex(4)}"


class BucketStrategy(TokenizerAcquisition):
    """Local cache, then the shared bucket, then (as the fleet's one leader) the Hub."""

    name = "s3"
    uses_network = True

    def __init__(self, cache: TokenizerCache, store: ObjectStore, options: S3Options, *,
                 delegate: TokenizerAcquisition | None = None,
                 vocab: VocabChecker | None = None,
                 lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                 offline_source: str | None = None,
                 max_file_bytes: int = 2 * 1024**3) -> None:
        self._cache = cache
        self._store = store
        self._options = options
        self._delegate = delegate
        self._local = LocalAcquisition(cache, name=self.name, vocab=vocab or VocabChecker())
        self._lock_timeout = lock_timeout
        self._offline_source = offline_source
        self._max_file_bytes = max_file_bytes
        self._flights: SingleFlight[_Report] = SingleFlight()
        self._holder = _holder()

    # -- introspection --------------------------------------------------------------------

    @property
    def options(self) -> S3Options:
        return self._options

    @property
    def store(self) -> ObjectStore:
        return self._store

    @property
    def cache(self) -> TokenizerCache:
        return self._cache

    @property
    def description(self) -> str:
        then = ""
        if self._delegate is not None and self._options.write_through:
            then = f", else {self._delegate.name} once for the fleet (write-through)"
        return (f"s3: serve from {self._cache.description}, else from "
                f"{self._options.location}{then}")

    def is_available(self) -> bool:
        return self._offline_source is None

    def unavailable_reason(self) -> str | None:
        source = self._offline_source
        return None if source is None else f"offline mode is on ({source})"

    def requirements(self) -> list[str]:
        return [f"read access to {self._options.location} (AWS credentials: environment, "
                "AWS_PROFILE or web identity)", f"write access to {self._cache.description}"]

    # -- acquisition ----------------------------------------------------------------------

    async def acquire(self, info: TokenizerDownloadInfo) -> AcquisitionResult:
        started = time.perf_counter()
        if self._offline_source is not None:
            raise OfflineModeError(self.name, source=self._offline_source)
        if info.needs_listing:
            return await self._discovered(info)
        for _ in range(3):
            located = self._cache.locate(info)
            decision = decide(info, located)
            if decision.conflict is not None:
                raise _conflict(info, decision.conflict)
            if not decision.hit:
                break
            with contextlib.suppress(FileNotFoundError):  # pruned under us: look again
                return await self._local.serve(info, located, started)
        shared = await self._flights.run(flight_key(info), lambda: self._obtain(info))
        report = shared.value
        for _ in range(3):
            published = self._cache.locate(info)
            if not decide(info, published).hit:
                break
            try:
                served = await self._local.serve(info, published, started)
            except FileNotFoundError:
                continue
            return replace(served, strategy=report.via, from_cache=False,
                           bytes_downloaded=report.bytes_received if shared.leader else 0)
        raise TokenizerNotFound(
            info.cache_key, info.files, directory=self._cache.directory(info.cache_key),
            suggestions=["the set was removed while being acquired; retry"])

    async def _discovered(self, info: TokenizerDownloadInfo) -> AcquisitionResult:
        """A request without explicit files (or with patterns): the set the local cache
        recorded for its selection, else the delegate's discovery. The bucket records no
        selection, so it neither serves nor takes such a set (and an unresolved request
        is never published: that would be an empty set over the key's)."""
        try:
            return await self._local.acquire(info)
        except TokenizerNotFound:
            delegate = self._delegate
            if delegate is None or not delegate.is_available():
                raise
        return await _delegated(delegate, info)

    async def _obtain(self, info: TokenizerDownloadInfo) -> _Report:
        await asyncio.to_thread(self._cache.ensure_writable)
        await asyncio.to_thread(self._cache.check_publishable, info.cache_key)
        found = await self._from_bucket(info)
        if found is not None:
            return found
        delegate = self._delegate
        if delegate is None or not self._options.write_through or not delegate.is_available():
            raise self._miss(info)
        return await self._lead_or_follow(info, delegate)

    def _miss(self, info: TokenizerDownloadInfo) -> TokenizerNotFound:
        where = f"{self._options.location}/{self._set_hint(info)}"
        return TokenizerNotFound(info.cache_key, info.files, directory=None, suggestions=[
            f"the set is not in {where}",
            f"upload it: tokacq bundle push --lock tokenizers.lock {self._options.location}",
            "or let the fleet fill it: strategy 'hybrid' with network, s3.write_through = true",
        ])

    @staticmethod
    def _set_hint(info: TokenizerDownloadInfo) -> str:
        if info.is_pinned_commit:
            return set_key(info.repo, info.revision)
        return ref_key(info.repo, info.revision)

    # -- reading the bucket -----------------------------------------------------------------

    async def _commit_of(self, info: TokenizerDownloadInfo) -> str | None:
        if info.is_pinned_commit:
            return info.revision
        ref = await self._store.get(ref_key(info.repo, info.revision),
                                    max_bytes=MAX_DOCUMENT_BYTES)
        return None if ref is None else parse_ref(ref.data)

    async def _read_set(self, repo: str, commit: str
                        ) -> tuple[BucketSet, str | None] | None:
        """The set's manifest and its ETag; None when absent or not a manifest."""
        found = await self._store.get(set_key(repo, commit), max_bytes=MAX_DOCUMENT_BYTES)
        if found is None:
            return None
        try:
            return BucketSet.from_json(found.data), found.etag
        except ManifestError:
            return None  # not ours: the leader's If-Match rewrite replaces it

    async def _from_bucket(self, info: TokenizerDownloadInfo) -> _Report | None:
        commit = await self._commit_of(info)
        if commit is None:
            return None
        got = await self._read_set(info.repo, commit)
        if got is None:
            return None
        bucket_set = got[0]
        why = contradiction(bucket_set, info.repo, commit, info.sha256)
        if why is not None:
            raise IntegrityError(f"{self._options.location}/{set_key(info.repo, commit)}",
                                 expected=f"a manifest of {info.repo}@{commit} matching "
                                          "the request's pins", actual=why,
                                 check="bucket manifest")
        if not info.files or any(name not in bucket_set.files for name in info.files):
            return None  # another request's files: the leader adds ours
        tag = staging_tag(info)
        files: dict[str, ManifestEntry] = {}
        received = 0
        for name in info.files:
            entry = bucket_set.files[name]
            sha = str(entry.sha256)
            if await asyncio.to_thread(self._cache.existing_blob, sha) is None:
                # One byte more than recorded: a longer object is an IntegrityError, and
                # nothing larger than the manifest says is ever buffered.
                limit = min(max(entry.size, 0) + 1, self._max_file_bytes)
                blob = await self._store.get(blob_key(sha), max_bytes=limit)
                if blob is None:
                    return None
                _verify(name, blob.data, entry)
                received += len(blob.data)
                await asyncio.to_thread(self._store_blob, info, name, tag, blob.data, sha)
            files[name] = ManifestEntry(
                size=entry.size, sha256=sha, etag=entry.etag, commit=commit,
                revision=info.revision, repo=info.repo,
                source=f"{self._options.location}/{blob_key(sha)}", fetched_at=time.time())
        snapshot = Snapshot(cache_key=info.cache_key, repo=info.repo, revision=info.revision,
                            commit=commit, files=files, created_at=time.time())
        await asyncio.shield(asyncio.to_thread(self._cache.publish, snapshot, tag))
        return _Report(received, self.name)

    def _store_blob(self, info: TokenizerDownloadInfo, name: str, tag: str, data: bytes,
                    sha256: str) -> None:
        with self._cache.staging(info.cache_key, name, tag) as staged:
            staged.parent.mkdir(parents=True, exist_ok=True)
            with open(staged, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            self._cache.store_blob(staged, sha256)

    # -- one leader per set -------------------------------------------------------------------

    async def _lead_or_follow(self, info: TokenizerDownloadInfo,
                              delegate: TokenizerAcquisition) -> _Report:
        key = lease_key(info.repo, info.revision)
        deadline = time.monotonic() + self._lock_timeout
        delay = POLL_FIRST_S
        while True:
            taken = await self._put_lease(key, None)
            if taken is Put.WRITTEN:
                return await self._lead(info, delegate, key)
            if taken is Put.DENIED:
                self._store.skipped_write(key, "the credentials may not write")
                return await self._hub_only(info, delegate)
            while True:  # someone leads: wait for their manifest
                if time.monotonic() >= deadline:
                    raise LockTimeout(Path(self._options.bucket) / self._options.key(key),
                                      self._lock_timeout)
                await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 1.6, POLL_MAX_S)
                found = await self._from_bucket(info)
                if found is not None:
                    return found
                current = await self._store.get(key, max_bytes=MAX_DOCUMENT_BYTES)
                if current is None:
                    break  # released without a set (the leader failed): try to lead
                lease = _lease_of(current.data)
                expired = lease_expired(current.age_s, lease, time.time(),
                                        self._options.lease_ttl)
                if expired and current.etag is not None \
                        and await self._put_lease(key, current.etag) is Put.WRITTEN:
                    return await self._lead(info, delegate, key)

    async def _put_lease(self, key: str, over_etag: str | None) -> Put:
        body = Lease(self._holder, time.time()).to_json()
        sha = hashlib.sha256(body).hexdigest()
        if over_etag is None:
            return await self._store.put(key, body, sha, if_absent=True)
        return await self._store.put(key, body, sha, if_match=over_etag)

    async def _lead(self, info: TokenizerDownloadInfo, delegate: TokenizerAcquisition,
                    lease: str) -> _Report:
        held = _Held()
        heartbeat = asyncio.create_task(self._renew(lease, held))
        try:
            # Another leader may have completed the set (and dropped its lease) between
            # this pod's last look at the bucket and its lease: look once more.
            found = await self._from_bucket(info)
            if found is not None:
                return found
            result = await _delegated(delegate, info)
            await self._upload_quietly(info)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            with contextlib.suppress(AcquisitionError):
                await asyncio.shield(self._release(lease, held))
        return _Report(result.bytes_downloaded, result.strategy)

    async def _renew(self, key: str, held: _Held) -> None:
        """The leader's heartbeat: every ``lease_ttl / 3`` the lease is written again with
        ``If-Match`` on its current ETag, so a Hub download longer than ``lease_ttl`` is
        not taken over. A lease another pod holds now (it took over) ends the heartbeat:
        this leader carries on, and its manifest's ``If-None-Match: *`` (or ``If-Match``
        on a superset) never overwrites the other's. A failed renewal is retried at the
        next beat; it never fails the acquisition."""
        interval = max(self._options.lease_ttl / 3, MIN_RENEW_S)
        while True:
            await asyncio.sleep(interval)
            try:
                current = await self._store.get(key, max_bytes=MAX_DOCUMENT_BYTES)
                if current is None or current.etag is None \
                        or not self._is_ours(current.data):
                    held.lost = True
                    self._store.skipped_write(key, "lease renewal: another pod holds the "
                                              "lease now")
                    return
                outcome = await self._put_lease(key, current.etag)
            except AcquisitionError as error:
                self._store.skipped_write(key, f"lease renewal failed: {type(error).__name__}")
                continue
            if outcome is Put.WRITTEN:
                held.renewals += 1
            elif outcome is Put.PRECONDITION_FAILED:
                held.lost = True
                self._store.skipped_write(key, "lease renewal: another pod took the lease over")
                return
            else:
                self._store.skipped_write(key, "lease renewal: the credentials may not write")
                return

    def _is_ours(self, data: bytes) -> bool:
        lease = _lease_of(data)
        return lease is not None and lease.holder == self._holder

    async def _release(self, key: str, held: _Held) -> None:
        """Delete the lease when it is still this leader's; never another pod's."""
        if not held.lost:
            current = await self._store.get(key, max_bytes=MAX_DOCUMENT_BYTES)
            if current is not None and self._is_ours(current.data):
                await self._store.delete(key)
                return
        self._store.skipped_write(key, "the lease is another pod's now: not deleted")

    async def _hub_only(self, info: TokenizerDownloadInfo,
                        delegate: TokenizerAcquisition) -> _Report:
        result = await _delegated(delegate, info)
        return _Report(result.bytes_downloaded, result.strategy)

    # -- uploading ----------------------------------------------------------------------------

    async def _upload_quietly(self, info: TokenizerDownloadInfo) -> None:
        """Upload the set the local cache holds; a failure is a debug event, not an error
        (the Hub already served this acquisition)."""
        try:
            await self.upload(info)
        except AcquisitionError as error:
            self._store.skipped_write(set_key(info.repo, "?"),
                                      f"upload failed: {type(error).__name__}")

    async def upload(self, info: TokenizerDownloadInfo) -> bool:
        """Put the request's set, as the local cache holds it, into the bucket: blobs,
        then the manifest, then the ref. False when the credentials may not write (or the
        local set cannot be uploaded); errors reaching the store are raised."""
        located = await asyncio.to_thread(self._cache.locate, info)
        if not decide(info, located).hit or located.commit is None:
            self._store.skipped_write(ref_key(info.repo, info.revision),
                                      "the local set is incomplete or has no commit")
            return False
        commit = located.commit
        entries: dict[str, ManifestEntry] = {}
        for name in info.files:
            entry = located.manifest[name]
            sha = str(entry.sha256)
            data = await asyncio.to_thread(self._blob_bytes, sha)
            if data is None:
                self._store.skipped_write(blob_key(sha), "the local blob changed")
                return False
            if await self._store.put(blob_key(sha), data, sha, if_absent=True) is Put.DENIED:
                self._store.skipped_write(blob_key(sha), "the credentials may not write")
                return False
            entries[name] = ManifestEntry(size=len(data), sha256=sha, etag=entry.etag)
        if not await self._put_manifest(BucketSet(info.repo, commit, entries)):
            return False
        if not info.is_pinned_commit:
            body = commit.encode()
            await self._store.put(ref_key(info.repo, info.revision), body,
                                  hashlib.sha256(body).hexdigest())
        return True

    def _blob_bytes(self, sha256: str) -> bytes | None:
        blob = self._cache.existing_blob(sha256)
        if blob is None:
            return None
        try:
            data = Path(blob).read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == sha256 else None

    async def _put_manifest(self, new: BucketSet) -> bool:
        key = set_key(new.repo, new.commit)
        for _ in range(_MANIFEST_ATTEMPTS):
            got = await self._read_set(new.repo, new.commit)
            if got is None:
                found = await self._store.get(key, max_bytes=MAX_DOCUMENT_BYTES)
                etag = None if found is None else found.etag  # a damaged one: replace it
                merged = new
            else:
                existing, etag = got
                combined = existing.merged(new.files)
                if combined is None:
                    raise IntegrityError(f"{self._options.location}/{key}",
                                         expected="one sha256 per file of a commit",
                                         actual="the bucket records other digests",
                                         check="bucket manifest")
                if combined.files.keys() == existing.files.keys():
                    return True  # already there
                merged = combined
            body = merged.to_json()
            sha = hashlib.sha256(body).hexdigest()
            outcome = await (self._store.put(key, body, sha, if_match=etag) if etag
                             else self._store.put(key, body, sha, if_absent=True))
            if outcome is Put.WRITTEN:
                return True
            if outcome is Put.DENIED:
                self._store.skipped_write(key, "the credentials may not write")
                return False
        return False

    async def aclose(self) -> None:
        await self._store.aclose()
        if self._delegate is not None:
            await self._delegate.aclose()


def _verify(name: str, data: bytes, entry: ManifestEntry) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry.sha256 or len(data) != entry.size:
        raise IntegrityError(name, expected=f"sha256 {entry.sha256} ({entry.size} bytes)",
                             actual=f"sha256 {actual} ({len(data)} bytes)",
                             check="sha256 of the bucket's blob")


def _conflict(info: TokenizerDownloadInfo, cached_repo: str) -> CacheKeyConflict:
    return CacheKeyConflict(info.cache_key, cached_repo=cached_repo, requested_repo=info.repo)


@dataclass
class _Held:
    """The leader's view of its lease while it downloads."""

    lost: bool = False
    renewals: int = 0


def _lease_of(data: bytes) -> Lease | None:
    try:
        return Lease.from_json(data)
    except ManifestError:
        return None


async def _delegated(delegate: TokenizerAcquisition,
                     info: TokenizerDownloadInfo) -> AcquisitionResult:
    """``delegate.acquire``; its error is marked as that part's own, so a hybrid that
    holds the same delegate does not send the same failing request to the Hub again."""
    try:
        return await delegate.acquire(info)
    except AcquisitionError as error:
        mark_tried(error, delegate)
        raise
