"""Cache maintenance: list what a ``FileSystemCache`` holds, re-verify it, prune it.

Works only through the cache's public surface (``directory``, ``manifest_path``,
``read_manifest``, ``lock_path``, ``bookkeeping``). Removal takes the cache key's lock
(the same ``<root>/.tokacq/locks/<key>.lock`` downloads use) so nothing is deleted under
a download in progress in another process.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..domain.errors import CacheKeyNotFound, CacheWriteError
from ..domain.manifest import ManifestEntry
from ..domain.options import DEFAULT_LOCK_TIMEOUT
from ..domain.request import RESERVED_SUFFIXES, check_cache_key
from .file_lock import FileKeyLock
from .filesystem_cache import FileSystemCache
from .read_only_disk import sha256_of


@dataclass(frozen=True)
class CachedFile:
    """One file of a key: on disk (``size``) and/or in the manifest (``entry``)."""

    name: str
    size: int | None
    entry: ManifestEntry | None

    def to_dict(self) -> dict[str, Any]:
        e = self.entry
        return {"file": self.name, "size": self.size, "present": self.size is not None,
                "sha256": e.sha256 if e else None, "commit": e.commit if e else None,
                "fetched_at": e.fetched_at if e else None}


@dataclass(frozen=True)
class CachedTokenizer:
    """A cache key: its files, total size on disk, and where they came from."""

    key: str
    directory: Path
    files: tuple[CachedFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size or 0 for f in self.files)

    def _values(self, name: str) -> list[Any]:
        out: list[Any] = []
        for f in self.files:
            value = getattr(f.entry, name) if f.entry else None
            if value is not None and value not in out:
                out.append(value)
        return out

    @property
    def repos(self) -> list[str]:
        return self._values("repo")

    @property
    def commits(self) -> list[str]:
        return self._values("commit")

    @property
    def fetched_at(self) -> float | None:
        times = self._values("fetched_at")
        return max(times) if times else None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "directory": str(self.directory), "size": self.size,
                "repos": self.repos, "commits": self.commits, "fetched_at": self.fetched_at,
                "files": [f.to_dict() for f in self.files]}


@dataclass(frozen=True)
class FileCheck:
    """``status``: ok, corrupt, missing, unrecorded (on disk, not in the manifest)."""

    key: str
    file: str
    status: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in ("corrupt", "missing")

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "file": self.file, "status": self.status,
                "detail": self.detail}


@dataclass(frozen=True)
class VerifyReport:
    checks: tuple[FileCheck, ...]

    @property
    def ok(self) -> bool:
        return not any(c.failed for c in self.checks)

    @property
    def problems(self) -> tuple[FileCheck, ...]:
        return tuple(c for c in self.checks if c.failed)


@dataclass
class PruneReport:
    keys: list[str] = field(default_factory=list)
    partials: int = 0
    bytes_freed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"keys": self.keys, "partials": self.partials, "bytes_freed": self.bytes_freed}


class CacheInventory:
    """Maintenance over one ``FileSystemCache``; ``lock_timeout`` bounds waits for a key."""

    def __init__(self, cache: FileSystemCache, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.cache = cache
        self.lock_timeout = lock_timeout

    # -- reading ---------------------------------------------------------------------------

    def keys(self) -> list[str]:
        """Every key with a directory or a manifest, sorted."""
        keys: set[str] = set()
        if self.cache.root.is_dir():
            keys.update(p.name for p in self.cache.root.iterdir()
                        if p.is_dir() and not p.name.startswith("."))
        manifests = _manifests_directory(self.cache)
        if manifests.is_dir():
            keys.update(p.stem for p in manifests.glob("*.json") if not p.name.startswith("."))
        return sorted(keys)

    def require(self, key: str) -> str:
        """``key`` if the cache holds it; ``InvalidRequest`` or ``CacheKeyNotFound`` otherwise."""
        check_cache_key(key)
        if key not in self.keys():
            raise CacheKeyNotFound(key, self.cache.root, known=self.keys())
        return key

    def describe(self, key: str) -> CachedTokenizer:
        directory = self.cache.directory(key)
        manifest = self.cache.read_manifest(key)
        on_disk = dict(_walk(directory))
        names = sorted(set(on_disk) | set(manifest))
        files = tuple(CachedFile(n, on_disk.get(n), manifest.get(n)) for n in names)
        return CachedTokenizer(key, directory, files)

    def list(self) -> list[CachedTokenizer]:
        return [self.describe(key) for key in self.keys()]

    def verify(self, key: str | None = None) -> VerifyReport:
        """Re-hash every recorded file against its manifest sha256 and size."""
        keys = [self.require(key)] if key is not None else self.keys()
        checks: list[FileCheck] = []
        for k in keys:
            checks.extend(self._verify_key(k))
        return VerifyReport(tuple(checks))

    def _verify_key(self, key: str) -> Iterator[FileCheck]:
        directory = self.cache.directory(key)
        manifest = self.cache.read_manifest(key)
        if not manifest and self.cache.manifest_path(key).exists():
            yield FileCheck(key, "(manifest)", "corrupt",
                            f"{self.cache.manifest_path(key)} cannot be read")
        on_disk = dict(_walk(directory))
        for name, entry in sorted(manifest.items()):
            if name not in on_disk:
                yield FileCheck(key, name, "missing", f"recorded in the manifest, absent from "
                                f"{directory}")
                continue
            yield _check_file(key, name, directory / name, entry)
        for name in sorted(set(on_disk) - set(manifest)):
            yield FileCheck(key, name, "unrecorded", "not in the manifest (placed by hand?); "
                            "nothing to verify against")

    # -- pruning ---------------------------------------------------------------------------

    def prune(self, key: str) -> PruneReport:
        """Remove a key's files, manifest and partial downloads."""
        self.require(key)
        report = PruneReport()
        self._remove_key(key, report)
        return report

    def prune_all(self) -> PruneReport:
        report = PruneReport()
        for key in self.keys():
            self._remove_key(key, report)
        report.partials += self._remove_partials()
        return report

    def prune_partials(self) -> PruneReport:
        """Remove interrupted downloads only (``.tokacq/partials``)."""
        return PruneReport(partials=self._remove_partials())

    def _remove_key(self, key: str, report: PruneReport) -> None:
        with self._locked(key):
            freed = self.describe(key).size
            _remove(self.cache.directory(key))
            _remove(self.cache.manifest_path(key))
            report.partials += _count_files(self.cache.partials(key))
            _remove(self.cache.partials(key))
        report.keys.append(key)
        report.bytes_freed += freed

    def _remove_partials(self) -> int:
        removed = 0
        root = _partials_root(self.cache)
        if not root.is_dir():
            return 0
        for directory in sorted(root.iterdir()):
            with self._locked(directory.name):
                removed += _count_files(directory)
                _remove(directory)
        return removed

    def _locked(self, key: str) -> AbstractContextManager[None]:
        # The downloads' own lock: a waiter on either side learns the holder's pid.
        return FileKeyLock(self.cache.lock_path).hold_sync(key, self.lock_timeout)


def _manifests_directory(cache: FileSystemCache) -> Path:
    """``<root>/.tokacq/manifests``: where ``manifest_path`` puts every key's manifest."""
    return cache.manifest_path("key").parent


def _partials_root(cache: FileSystemCache) -> Path:
    """``<root>/.tokacq/partials``: the parent of every key's ``partials`` directory."""
    return cache.partials("key").parent


def _check_file(key: str, name: str, path: Path, entry: ManifestEntry) -> FileCheck:
    try:
        size = path.stat().st_size
    except OSError as exc:
        return FileCheck(key, name, "missing", f"unreadable: {exc.strerror or exc}")
    if size != entry.size:
        return FileCheck(key, name, "corrupt", f"size {size}, manifest says {entry.size}")
    if entry.sha256 is None:
        return FileCheck(key, name, "ok", "size matches; the manifest records no sha256")
    digest = sha256_of(path)
    if digest is None:
        return FileCheck(key, name, "missing", "unreadable")
    if digest != entry.sha256:
        return FileCheck(key, name, "corrupt", f"sha256 {digest}, manifest says {entry.sha256}")
    return FileCheck(key, name, "ok")


def _walk(directory: Path) -> Iterator[tuple[str, int]]:
    """(posix relative name, size) of every regular file under ``directory``."""
    if not directory.is_dir():
        return
    for dirpath, _, filenames in os.walk(directory):
        for filename in filenames:
            path = Path(dirpath) / filename
            if filename.endswith(RESERVED_SUFFIXES):
                continue
            try:
                size = path.stat().st_size
            except OSError:
                continue
            yield path.relative_to(directory).as_posix(), size


def _count_files(directory: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(directory)) if directory.is_dir() else 0


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise CacheWriteError(path, exc.strerror or str(exc)) from None


__all__ = ["CacheInventory", "CachedFile", "CachedTokenizer", "FileCheck", "PruneReport",
           "VerifyReport"]
