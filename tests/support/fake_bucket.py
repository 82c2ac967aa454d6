"""In-memory fakes for the ``s3`` strategy's unit tests: a bucket and a Hub delegate.

``MemoryStore`` honours the conditions the way S3 does: ``if_absent`` (``If-None-Match:
*``) fails on an existing key, ``if_match`` fails unless the key's current ETag is the
one given (and on a missing key). Ages come from its own clock (real time, moved on
by ``advance``), as S3's ``Date`` minus ``Last-Modified``. ``read_only`` answers
``DENIED`` to every write; ``fail_writes`` (a key prefix) raises ``NetworkError`` on
those. Every call is recorded in ``calls``.

``FakeHub`` is a network strategy: it "downloads" a dict of files into the local cache
the way the network strategy publishes them, counting calls per file.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from tokenizer_acquisition.domain.errors import AcquisitionError, NetworkError
from tokenizer_acquisition.domain.manifest import ManifestEntry, Snapshot
from tokenizer_acquisition.domain.request import TokenizerDownloadInfo
from tokenizer_acquisition.domain.results import AcquisitionResult
from tokenizer_acquisition.ports.acquisition import TokenizerAcquisition
from tokenizer_acquisition.ports.bucket import Access, ObjectStore, Put, StoredObject
from tokenizer_acquisition.ports.cache import TokenizerCache

COMMIT = "a" * 40


class MemoryStore(ObjectStore):
    def __init__(self, *, read_only: bool = False) -> None:
        self.objects: dict[str, tuple[bytes, str, float]] = {}
        self.read_only = read_only
        #: Writes to keys starting with this raise ``NetworkError`` (a failing store).
        self.fail_writes: str | None = None
        #: Called before each put (tests use it to interleave another writer).
        self.before_put: Callable[[str], None] | None = None
        #: Called before each get, likewise.
        self.before_get: Callable[[str], None] | None = None
        self.calls: list[tuple[str, str]] = []
        self.skipped: list[tuple[str, str]] = []
        self._offset = 0.0
        self._etags = itertools.count(1)

    @property
    def location(self) -> str:
        return "s3://fake/prefix"

    @property
    def clock(self) -> float:
        """The store's clock: real time, plus what ``advance`` added."""
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def write(self, key: str, data: bytes) -> str:
        """Arrange an object directly (as another pod would); its new ETag."""
        etag = f'"{next(self._etags)}"'
        self.objects[key] = (data, etag, self.clock)
        return etag

    async def get(self, key: str, *, max_bytes: int) -> StoredObject | None:
        self.calls.append(("GET", key))
        if self.before_get is not None:
            self.before_get(key)
        await asyncio.sleep(0)
        found = self.objects.get(key)
        if found is None:
            return None
        data, etag, written = found
        if len(data) > max_bytes:
            raise NetworkError(f"object larger than {max_bytes} bytes", url=key)
        return StoredObject(data, etag=etag, age_s=self.clock - written)

    async def put(self, key: str, data: bytes, sha256: str, *, if_absent: bool = False,
                  if_match: str | None = None) -> Put:
        self.calls.append(("PUT", key))
        assert hashlib.sha256(data).hexdigest() == sha256, "payload hash must be the body's"
        if self.before_put is not None:
            self.before_put(key)
        await asyncio.sleep(0)
        if self.fail_writes is not None and key.startswith(self.fail_writes):
            raise NetworkError("the store failed a write", url=key, status=500)
        if self.read_only:
            return Put.DENIED
        current = self.objects.get(key)
        if if_absent and current is not None:
            return Put.PRECONDITION_FAILED
        if if_match is not None and (current is None or current[1] != if_match):
            return Put.PRECONDITION_FAILED
        self.write(key, data)
        return Put.WRITTEN

    async def delete(self, key: str) -> None:
        self.calls.append(("DELETE", key))
        if not self.read_only:
            self.objects.pop(key, None)

    async def probe(self) -> Access:
        return Access(True, not self.read_only)

    def skipped_write(self, key: str, reason: str) -> None:
        self.skipped.append((key, reason))

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "GET"]


class FakeHub(TokenizerAcquisition):
    """The Hub as a network strategy: publishes ``files`` (name -> bytes) at ``COMMIT``."""

    name = "network"
    uses_network = True

    def __init__(self, cache: TokenizerCache, files: Mapping[str, bytes], *,
                 error: AcquisitionError | None = None, delay: float = 0.0,
                 commit: str = COMMIT) -> None:
        self._cache = cache
        self._files = dict(files)
        self.error = error
        self.delay = delay
        self.commit = commit
        self.gets: dict[str, int] = {}
        self.calls = 0

    @property
    def description(self) -> str:
        return "network: fake Hub"

    def is_available(self) -> bool:
        return True

    def unavailable_reason(self) -> str | None:
        return None

    def requirements(self) -> list[str]:
        return []

    async def acquire(self, info: TokenizerDownloadInfo) -> AcquisitionResult:
        self.calls += 1
        for name in info.files:
            self.gets[name] = self.gets.get(name, 0) + 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        tag = f"fake-{id(self)}"
        entries: dict[str, ManifestEntry] = {}
        for name in info.files:
            data = self._files[name]
            sha = hashlib.sha256(data).hexdigest()
            with self._cache.staging(info.cache_key, name, tag) as staged:
                staged.parent.mkdir(parents=True, exist_ok=True)
                staged.write_bytes(data)
                self._cache.store_blob(staged, sha)
            entries[name] = ManifestEntry(size=len(data), sha256=sha, etag=f'"{sha[:8]}"',
                                          commit=self.commit, revision=info.revision,
                                          repo=info.repo, source="fake hub",
                                          fetched_at=time.time())
        located = self._cache.publish(Snapshot(
            cache_key=info.cache_key, repo=info.repo, revision=info.revision,
            commit=self.commit, files=entries, created_at=time.time()), tag)
        directory = self._cache.directory(info.cache_key)
        del located
        return AcquisitionResult(path=directory / info.files[0], directory=directory,
                                 files={n: directory / n for n in info.files},
                                 strategy=self.name, from_cache=False,
                                 bytes_downloaded=sum(len(self._files[n]) for n in info.files))


def cache_file(cache_root: Path, cache_key: str, name: str) -> bytes:
    return (cache_root / cache_key / name).read_bytes()
