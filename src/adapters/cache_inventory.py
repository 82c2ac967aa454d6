"""Cache maintenance: list what a ``FileSystemCache`` holds, re-verify it, prune it.

The cache's layout and its notion of ownership are ``adapters/filesystem_cache.py``'s: a
key is *managed* when ``<root>/<key>`` is a link into ``.tokacq/snapshots/<key>/``, and
*unmanaged* when it is a real directory (or a link) placed by hand. A *leftover* key has
only bookkeeping (snapshots never linked, partial downloads, set journals).

Promises:

- Reading never raises anything but typed errors (``AcquisitionError``): a damaged,
  hostile or unreadable manifest is a *problem* of its key, reported, never an exception;
  a cache directory that is a file, an unreadable cache directory or bookkeeping, or a
  ``.tokacq`` that is a symlink, is ``CacheWriteError`` (exit 8): the inventory cannot be
  taken honestly, so nothing is reported as empty or missing.
- ``verify`` re-hashes every file of every managed key's current snapshot against its
  manifest: ``ok``, ``corrupt``, ``missing``, ``unreadable`` (permission denied: the
  file may be intact; it fails the check, since nothing vouches for it), ``unverified``
  (a file no manifest records: in a managed snapshot, or anywhere in a hand-placed
  directory; reported, never a failure).
- Pruning deletes only what the tool manages: a managed key's link, all its snapshots and
  manifests, its partial downloads and journals, and the blobs no snapshot links any
  more. A hand-placed directory goes only when asked (``include_unmanaged``); a
  ``.tokacq`` that is a symlink is refused, never followed. ``dry_run`` computes the
  same plan and deletes nothing. Removal holds the key's lock (the one downloads take),
  so nothing is deleted under a download; sweeps of shared state (blobs, temporary
  links) hold the lock of every key that has bookkeeping, so a blob a download stored
  but has not linked yet is never taken.
- Last access (``CachedTokenizer.accessed_at``) is measured without writing anything:
  a cache hit only stats, so it records nothing (read-only caches keep working). It is
  the newest access time (atime) of the files of the key's current snapshot, i.e. the last
  time an application *read* them, where the filesystem keeps atimes (``relatime``
  updates them at most once a day; ``noatime`` never), and never earlier than when the
  snapshot was created (its manifest's ``created_at``, else the files' ``fetched_at``);
  ``accessed_from`` says which (``atime`` or ``created``; ``modified`` for a directory
  placed by hand). ``verify`` reads files with ``O_NOATIME`` where it may, so re-hashing
  does not count as a use.
- ``prune_unused`` removes whole managed keys by age (``older_than`` seconds since last
  access) and/or least recently used first until the cache's bytes on disk fit
  ``keep_size``; both given, each holds afterwards (old keys go, then more until it fits).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..domain.errors import (
    CacheKeyNotFound,
    CacheWriteError,
    ConfigurationError,
    InvalidRequest,
)
from ..domain.manifest import MAX_MANIFEST_BYTES, ManifestEntry, ManifestError, Snapshot
from ..domain.options import DEFAULT_LOCK_TIMEOUT
from ..domain.request import check_cache_key
from .file_lock import FileKeyLock
from .filesystem_cache import TMP_SUFFIX, FileSystemCache, KeyState
from .read_only_disk import walk

#: ``CachedTokenizer.kind``: a link to one of our snapshots, a directory placed by hand,
#: or bookkeeping only (nothing is served under the key).
MANAGED, UNMANAGED, LEFTOVER = "managed", "unmanaged", "leftover"
#: ``FileCheck.status`` values that make ``verify`` fail.
FAILING = frozenset({"corrupt", "missing", "unreadable"})
_JOURNAL_SUFFIX = ".tokacq-set"
_BLOB_NAME = re.compile(r"^[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class CachedFile:
    """One file of a key: on disk (``size``, None when absent or unreadable) and/or in
    the manifest (``entry``)."""

    name: str
    size: int | None
    entry: ManifestEntry | None

    def to_dict(self) -> dict[str, Any]:
        e = self.entry
        return {"file": self.name, "size": self.size, "present": self.size is not None,
                "recorded_size": e.size if e else None, "sha256": e.sha256 if e else None,
                "commit": e.commit if e else None, "fetched_at": e.fetched_at if e else None}


@dataclass(frozen=True)
class CachedTokenizer:
    """A cache key: what it is, where it came from, its files, and what is wrong with it."""

    key: str
    directory: Path
    kind: str
    files: tuple[CachedFile, ...] = ()
    repo: str | None = None
    revision: str | None = None
    commit: str | None = None
    created_at: float | None = None
    snapshot: str | None = None
    problems: tuple[str, ...] = ()
    #: Last access (see the module doc), and what measured it: ``atime``, ``created``
    #: or ``modified``; None for a key with only bookkeeping.
    accessed_at: float | None = None
    accessed_from: str | None = None

    @property
    def managed(self) -> bool:
        return self.kind == MANAGED

    @property
    def size(self) -> int:
        """Bytes on disk (what ``ls`` shows under the key)."""
        return sum(f.size or 0 for f in self.files)

    @property
    def fetched_at(self) -> float | None:
        times = [f.entry.fetched_at for f in self.files
                 if f.entry is not None and f.entry.fetched_at is not None]
        return max(times) if times else None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "directory": str(self.directory), "kind": self.kind,
                "managed": self.managed, "repo": self.repo, "revision": self.revision,
                "commit": self.commit, "snapshot": self.snapshot,
                "created_at": self.created_at, "fetched_at": self.fetched_at,
                "accessed_at": self.accessed_at, "accessed_from": self.accessed_from,
                "size": self.size, "files": [f.to_dict() for f in self.files],
                "problems": list(self.problems)}


@dataclass(frozen=True)
class FileCheck:
    """``status``: ok, corrupt, missing, unreadable, unverified (see the module doc)."""

    key: str
    file: str
    status: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILING

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "file": self.file, "status": self.status,
                "detail": self.detail, "failed": self.failed}


@dataclass(frozen=True)
class VerifyReport:
    checks: tuple[FileCheck, ...]

    @property
    def ok(self) -> bool:
        return not any(c.failed for c in self.checks)

    @property
    def problems(self) -> tuple[FileCheck, ...]:
        return tuple(c for c in self.checks if c.failed)

    @property
    def unverified(self) -> tuple[FileCheck, ...]:
        return tuple(c for c in self.checks if c.status == "unverified")


@dataclass
class PruneReport:
    """What was removed (or, with ``dry_run``, would be).

    ``keys``: managed keys removed; ``unmanaged``: hand-placed directories removed;
    ``kept``: hand-placed directories left alone; ``partials``: partial downloads, set
    journals and temporary files; ``paths``: everything removed, in order.
    """

    dry_run: bool = False
    keys: list[str] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    snapshots: int = 0
    partials: int = 0
    blobs: int = 0
    bytes_freed: int = 0
    paths: list[str] = field(default_factory=list)
    #: ``prune_unused`` only: the cache's bytes on disk before, and whether what is left
    #: fits ``keep_size`` (None when no size was asked for).
    size_before: int | None = None
    fits: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "keys": self.keys, "unmanaged": self.unmanaged,
                "kept": self.kept, "snapshots": self.snapshots, "partials": self.partials,
                "blobs": self.blobs, "bytes_freed": self.bytes_freed, "paths": self.paths,
                "size_before": self.size_before, "fits": self.fits}


class CacheInventory:
    """Maintenance over one ``FileSystemCache``; ``lock_timeout`` bounds waits for a key."""

    def __init__(self, cache: FileSystemCache, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.cache = cache
        self.lock_timeout = lock_timeout

    # -- reading ---------------------------------------------------------------------------

    def keys(self) -> list[str]:
        """Managed keys, hand-placed directories and keys with only bookkeeping, sorted.

        Names that are not valid cache keys (``My Photos``) are never keys: no lookup can
        reach them, and no command touches them.
        """
        if not self._check_cache():
            return []
        keys: set[str] = set()
        for name in _names(self.cache.root):
            if not _valid_key(name):
                continue
            state = self.cache.state(name)
            if state.kind == MANAGED or (state.kind == UNMANAGED and os.path.isdir(state.path)):
                keys.add(name)
        keys.update(self._bookkeeping_keys())
        return sorted(keys)

    def require(self, key: str) -> str:
        """``key`` if the cache holds it; ``InvalidRequest`` or ``CacheKeyNotFound`` otherwise."""
        check_cache_key(key)
        keys = self.keys()
        if key not in keys:
            raise CacheKeyNotFound(key, self.cache.root, known=keys)
        return key

    def describe(self, key: str) -> CachedTokenizer:
        """One key as ``list`` shows it; a damaged manifest is a problem, not an error."""
        check_cache_key(key)
        state = self.cache.state(key)
        kind = _kind(state)
        if kind == LEFTOVER:
            return CachedTokenizer(key, state.path, LEFTOVER, problems=(
                "no current set: only bookkeeping of an interrupted or removed set "
                "('tokacq cache prune --partials' removes it)",))
        problems: list[str] = []
        stats: list[os.stat_result] = []
        on_disk = _walk(state.directory, problems, stats)
        snapshot = state.snapshot
        if state.problem is not None:
            problems.insert(0, state.problem)
        manifest: dict[str, ManifestEntry] = dict(snapshot.files) if snapshot else {}
        names = sorted(set(on_disk) | set(manifest))
        files = tuple(CachedFile(n, on_disk.get(n), manifest.get(n)) for n in names)
        if snapshot is None:
            accessed, source = _last_access(stats, None, kind)
            return CachedTokenizer(key, state.path, kind, files, snapshot=state.sid,
                                   problems=tuple(problems), accessed_at=accessed,
                                   accessed_from=source)
        fetched = [e.fetched_at for e in manifest.values() if e.fetched_at is not None]
        created = snapshot.created_at or (max(fetched) if fetched else None)
        accessed, source = _last_access(stats, created, kind)
        return CachedTokenizer(key, state.path, kind, files, repo=snapshot.repo,
                               revision=snapshot.revision, commit=snapshot.commit,
                               created_at=snapshot.created_at, snapshot=state.sid,
                               problems=tuple(problems), accessed_at=accessed,
                               accessed_from=source)

    def list(self) -> list[CachedTokenizer]:
        return [self.describe(key) for key in self.keys()]

    def verify(self, key: str | None = None) -> VerifyReport:
        """Re-hash every file of every managed key's current snapshot (see the module doc)."""
        keys = [self.require(key)] if key is not None else self.keys()
        checks: list[FileCheck] = []
        for k in keys:
            checks.extend(self._verify_key(k))
        return VerifyReport(tuple(checks))

    def _verify_key(self, key: str) -> Iterator[FileCheck]:
        state = self.cache.state(key)
        kind = _kind(state)
        if kind == LEFTOVER:
            yield FileCheck(key, "(no current set)", "unverified",
                            "only bookkeeping of an interrupted or removed set; nothing is "
                            "served ('tokacq cache prune --partials' removes it)")
            return
        problems: list[str] = []
        on_disk = _walk(state.directory, problems)
        for problem in problems:
            yield FileCheck(key, "(directory)", "unreadable", problem)
        if kind == UNMANAGED:
            for name in sorted(on_disk):
                yield FileCheck(key, name, "unverified", "placed by hand: no manifest, "
                                "nothing to verify against")
            return
        if state.snapshot is None:
            yield self._manifest_problem(key, state)
            manifest: dict[str, ManifestEntry] = {}
        else:
            manifest = dict(state.snapshot.files)
        for name, entry in sorted(manifest.items()):
            yield _check_file(key, name, state.directory, entry)
        for name in sorted(set(on_disk) - set(manifest)):
            yield FileCheck(key, name, "unverified", "not in the manifest; nothing to "
                            "verify against")

    def _manifest_problem(self, key: str, state: KeyState) -> FileCheck:
        """A managed key whose manifest cannot be used: unreadable (permissions) or corrupt."""
        detail = state.problem or "the manifest cannot be read"
        manifest = state.directory.with_name(f"{state.sid}.json")
        try:
            with open(manifest, "rb") as handle:
                handle.read(1)
        except PermissionError:
            return FileCheck(key, "(manifest)", "unreadable", detail)
        except OSError:
            pass
        return FileCheck(key, "(manifest)", "corrupt", detail)

    # -- pruning ---------------------------------------------------------------------------

    def prune(self, key: str, *, include_unmanaged: bool = False,
              dry_run: bool = False) -> PruneReport:
        """Remove one key: a managed one whole; a hand-placed directory only with
        ``include_unmanaged`` (``ConfigurationError`` otherwise, nothing removed)."""
        self._check_bookkeeping()
        self.require(key)
        report = PruneReport(dry_run=dry_run)
        with self._holding([key], dry_run):
            state = self.cache.state(key)
            if _kind(state) == UNMANAGED and not include_unmanaged:
                raise ConfigurationError(
                    f"{state.path} was placed by hand, not by tokacq: it is not removed",
                    key="include_unmanaged", value=False, suggestions=(
                        "pass --include-unmanaged (include_unmanaged=True) to delete that "
                        "directory and everything in it",))
            self._prune_key(key, state, include_unmanaged, _Remover(self.cache, report))
        return report

    def prune_all(self, *, include_unmanaged: bool = False,
                  dry_run: bool = False) -> PruneReport:
        """Every managed key (hand-placed directories too with ``include_unmanaged``),
        then everything ``prune_partials`` removes."""
        self._check_bookkeeping()
        report = PruneReport(dry_run=dry_run)
        if not self._check_cache():
            return report
        with self._holding_all(dry_run) as held:
            remover = _Remover(self.cache, report)
            for key in sorted(held):
                self._prune_key(key, self.cache.state(key), include_unmanaged, remover)
            self._sweep(remover, held)
        return report

    def prune_partials(self, *, dry_run: bool = False) -> PruneReport:
        """Partial downloads, set journals, every temporary file, snapshots that are not
        their key's current one (incomplete or superseded), and blobs no snapshot links."""
        self._check_bookkeeping()
        report = PruneReport(dry_run=dry_run)
        if not self._check_cache():
            return report
        with self._holding_all(dry_run) as held:
            self._sweep(_Remover(self.cache, report), held)
        return report

    def prune_unused(self, *, older_than: float | None = None, keep_size: int | None = None,
                     dry_run: bool = False, now: float | None = None) -> PruneReport:
        """Whole managed keys, least recently used first (see the module doc): every key
        not accessed for ``older_than`` seconds, then more until the cache's bytes on disk
        are at most ``keep_size``. Hand-placed directories are never removed (they count
        in the size). ``report.fits`` is False when even removing every managed key
        leaves more than ``keep_size`` (leftovers or hand-placed directories)."""
        if older_than is None and keep_size is None:
            raise ConfigurationError("prune_unused needs older_than or keep_size",
                                     key="older_than", value=None)
        self._check_bookkeeping()
        report = PruneReport(dry_run=dry_run)
        if not self._check_cache():
            if keep_size is not None:
                report.size_before, report.fits = 0, True
            return report
        clock = time.time() if now is None else now
        with self._holding_all(dry_run) as held:
            managed = [entry for entry in (self.describe(k) for k in sorted(held))
                       if entry.kind == MANAGED]
            managed.sort(key=lambda e: (e.accessed_at or 0.0, e.key))
            chosen: Sequence[str] = [e.key for e in managed if older_than is not None
                                     and (e.accessed_at or 0.0) < clock - older_than]
            if keep_size is not None:
                chosen = self._until_fits(chosen, [e.key for e in managed], keep_size, report)
            remover = _Remover(self.cache, report)
            for key in chosen:
                self._prune_key(key, self.cache.state(key), False, remover)
        return report

    def disk_usage(self) -> int:
        """Bytes of every regular file under the cache, each hard-linked file once."""
        seen: set[tuple[int, int]] = set()
        total = 0
        for st in _regular_files(self.cache.root):
            inode = (st.st_dev, st.st_ino)
            if inode not in seen:
                seen.add(inode)
                total += st.st_size
        return total

    def _until_fits(self, chosen: Sequence[str], lru: Sequence[str], keep_size: int,
                    report: PruneReport) -> Sequence[str]:
        """``chosen``, then the next least recently used keys until what is left fits."""
        usage = self.disk_usage()
        report.size_before = usage
        blobs = {(st.st_dev, st.st_ino) for st in _regular_files(self.cache.blobs)}
        links: dict[tuple[int, int], int] = {}
        nlink: dict[tuple[int, int], tuple[int, int]] = {}
        freed = 0

        def drop(key: str) -> int:
            gained = 0
            # Every snapshot with its manifest, and the key's partial downloads.
            for directory in (self.cache.snapshots(key), self.cache.partials(key)):
                for st in _regular_files(directory):
                    inode = (st.st_dev, st.st_ino)
                    links[inode] = links.get(inode, 0) + 1
                    nlink.setdefault(inode, (st.st_nlink, st.st_size))
            for inode, count in links.items():
                total, size = nlink[inode]
                if size >= 0 and total - count == (1 if inode in blobs else 0):
                    gained += size
                    nlink[inode] = (total, -1)  # counted once
            return gained

        out = list(chosen)
        for key in chosen:
            freed += drop(key)
        for key in lru:
            if usage - freed <= keep_size:
                break
            if key not in out:
                out.append(key)
                freed += drop(key)
        report.fits = usage - freed <= keep_size
        return out

    def _prune_key(self, key: str, state: KeyState, include_unmanaged: bool,
                   remover: _Remover) -> None:
        kind = _kind(state)
        if kind == UNMANAGED:
            if not include_unmanaged:
                remover.report.kept.append(key)
                return
            remover.hand_placed(state.path)
            remover.report.unmanaged.append(key)
        elif kind == MANAGED:
            remover.link(state.path)
            remover.report.keys.append(key)
        for sid in self.cache.snapshot_ids(key):
            remover.snapshot(key, sid)
        remover.journal_blobs(self.cache.partials(key))
        remover.tree(self.cache.partials(key))
        remover.tmp_files(self.cache.snapshots(key))
        remover.empty_directory(self.cache.snapshots(key))
        remover.blobs_freed_by_snapshots()

    def _sweep(self, remover: _Remover, held: set[str]) -> None:
        """Leftovers of every key (``held``: locked by the caller), then unlinked blobs."""
        for key in sorted(held & self._bookkeeping_keys()):
            current = self.cache.state(key).sid
            for sid in self.cache.snapshot_ids(key):
                if sid != current:
                    remover.snapshot(key, sid)
            remover.tree(self.cache.partials(key))
            remover.tmp_files(self.cache.snapshots(key))
            if current is None:
                remover.empty_directory(self.cache.snapshots(key))
        remover.tmp_files(self.cache.bookkeeping / "tmp", held)
        remover.tmp_files(self.cache.partials("k").parent)
        remover.tmp_files(self.cache.blobs)
        remover.tmp_files(self.cache.bookkeeping)
        remover.blobs_freed_by_snapshots()
        remover.unlinked_blobs()

    # -- checks and locks ------------------------------------------------------------------

    def _check_cache(self) -> bool:
        """False when the cache does not exist yet; ``CacheWriteError`` when it cannot be
        one (a file) or cannot be read, and when its bookkeeping is a symlink."""
        root = self.cache.root
        try:
            st = os.stat(root)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise CacheWriteError(root, f"it cannot be read ({exc.strerror or exc})") from None
        if not stat.S_ISDIR(st.st_mode):
            raise CacheWriteError(root, "it exists and is not a directory; point cache_dir "
                                  "at a directory")
        self._check_bookkeeping()
        return True

    def _check_bookkeeping(self) -> None:
        linked = self.cache.linked_bookkeeping()
        if linked is not None:
            raise CacheWriteError(linked, "it is a symlink; the cache's "
                                  "bookkeeping must be a real directory (it is never followed: "
                                  "remove the link)")

    def _bookkeeping_keys(self) -> set[str]:
        """Keys with snapshots, partial downloads or temporary links under ``.tokacq``."""
        keys: set[str] = set()
        for directory in (self.cache.snapshots("k").parent, self.cache.partials("k").parent):
            keys.update(n for n in _names(directory) if _valid_key(n))
        for name in _names(self.cache.bookkeeping / "tmp"):
            # ``<key>.<hex>.tokacq-tmp``: a swap in progress (or killed) for that key.
            key = _tmp_key(name)
            if key is not None:
                keys.add(key)
        return keys

    @contextlib.contextmanager
    def _holding(self, keys: Iterable[str], dry_run: bool) -> Iterator[None]:
        """The downloads' own locks, in sorted order (so two prunes never deadlock); none
        for a dry run, which writes nothing (not even lock files)."""
        with ExitStack() as stack:
            if not dry_run:
                lock = FileKeyLock(self.cache.lock_path)
                for key in sorted(set(keys)):
                    stack.enter_context(lock.hold_sync(key, self.lock_timeout))
            yield

    @contextlib.contextmanager
    def _holding_all(self, dry_run: bool) -> Iterator[set[str]]:
        """The lock of every key, until no new one appears; yields the keys held.

        A download stores a blob only after its key's partials directory exists, so
        while these are held no blob is between its storing and its linking.
        """
        wanted: set[str] = set()
        for _ in range(8):
            wanted |= self._bookkeeping_keys() | set(self.keys())
            with self._holding(wanted, dry_run):
                if dry_run or self._bookkeeping_keys() | set(self.keys()) <= wanted:
                    yield wanted
                    return
        raise CacheWriteError(self.cache.bookkeeping, "new downloads kept starting while "
                              "pruning; retry when the cache is quieter")


class _Remover:
    """Removes paths (or only records them, for a dry run) and keeps the report."""

    def __init__(self, cache: FileSystemCache, report: PruneReport) -> None:
        self.cache = cache
        self.report = report
        self.dry_run = report.dry_run
        #: Links (by inode) that removed snapshots held, for the blob accounting.
        self._dropped: dict[tuple[int, int], int] = {}
        self._blobs: dict[tuple[int, int], Path] | None = None
        self._seen: set[str] = set()

    def _remove(self, path: Path) -> bool:
        """A file or link (never followed), or a real directory with all it holds; False
        when a dry run already counted it (nothing really goes, so it is seen again)."""
        if str(path) in self._seen:
            return False
        self._seen.add(str(path))
        self.report.paths.append(str(path))
        if self.dry_run:
            return True
        try:
            if _is_real_directory(path):
                try:
                    shutil.rmtree(path)
                except RecursionError:  # Python 3.11's rmtree recurses once per level
                    _remove_deep_tree(path)
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise CacheWriteError(Path(exc.filename or path), exc.strerror or str(exc)) from None
        return True

    def link(self, path: Path) -> None:
        """A key's link (``state`` said it is a symlink): the link only, never its target."""
        if os.path.islink(path):
            self._remove(path)

    def hand_placed(self, path: Path) -> None:
        """A directory placed by hand, whole; a link placed by hand, the link only.
        Nothing is removed from a directory that cannot be read whole."""
        if not os.path.islink(path):
            problems: list[str] = []
            self.report.bytes_freed += sum(_walk(path, problems).values())
            if problems:
                raise CacheWriteError(path, problems[0])
        self._remove(path)

    def snapshot(self, key: str, sid: str) -> None:
        """A snapshot directory and its manifest; its links are counted for the blobs."""
        directory = self.cache.snapshots(key) / sid
        manifest = directory.with_name(f"{sid}.json")
        removed = False
        for path in (directory, manifest):
            if not os.path.lexists(path):
                continue
            links = _regular_files(path)
            if self._remove(path):
                for st in links:
                    inode = (st.st_dev, st.st_ino)
                    self._dropped[inode] = self._dropped.get(inode, 0) + 1
                removed = True
        self.report.snapshots += removed

    def tree(self, path: Path) -> None:
        """A key's partials directory: partial downloads, journals, their temporary files."""
        if os.path.lexists(path):
            files = len(_regular_files(path))
            if self._remove(path):
                self.report.partials += files

    def tmp_files(self, directory: Path, keys: set[str] | None = None) -> None:
        """Every ``*.tokacq-tmp`` directly in ``directory`` (written beside its target);
        with ``keys``, only the temporary links (``<key>.<hex>.tokacq-tmp``) of those."""
        for name in _names(directory):
            if name.endswith(TMP_SUFFIX) and (keys is None or _tmp_key(name) in keys):
                self.report.partials += self._remove(directory / name)

    def empty_directory(self, path: Path) -> None:
        if self.dry_run or not _is_real_directory(path):
            return
        with contextlib.suppress(OSError):
            os.rmdir(path)

    def journal_blobs(self, partials: Path) -> None:
        """Blobs a removed key's set journals recorded, for the sweep of this key."""
        for name in _names(partials):
            if not name.endswith(_JOURNAL_SUFFIX):
                continue
            try:
                with open(partials / name, "rb") as handle:
                    journal = Snapshot.from_json(handle.read(MAX_MANIFEST_BYTES + 1))
            except (OSError, ManifestError):
                continue
            for entry in journal.files.values():
                blob = self.cache.blobs / str(entry.sha256)
                with contextlib.suppress(OSError):
                    st = os.lstat(blob)
                    self._dropped.setdefault((st.st_dev, st.st_ino), 0)

    def _blob_index(self) -> dict[tuple[int, int], Path]:
        if self._blobs is None:
            self._blobs = {}
            for name in _names(self.cache.blobs):
                if not _BLOB_NAME.match(name):
                    continue  # not a blob the cache stored: never ours to remove
                path = self.cache.blobs / name
                with contextlib.suppress(OSError):
                    st = os.lstat(path)
                    if stat.S_ISREG(st.st_mode):
                        self._blobs[(st.st_dev, st.st_ino)] = path
        return self._blobs

    def _drop_blob(self, path: Path, remaining_links: int) -> bool:
        """Remove a blob whose only link left is its ``blobs/`` name."""
        try:
            st = os.lstat(path)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_nlink - remaining_links != 1 \
                or not self._remove(path):
            return False
        self.report.blobs += 1
        self.report.bytes_freed += st.st_size
        return True

    def blobs_freed_by_snapshots(self) -> None:
        """The blobs only the removed snapshots (and journals) linked. A dry run removes
        nothing, so it counts the links removed so far (across keys) instead."""
        index = self._blob_index()
        for inode, links in sorted(self._dropped.items()):
            blob = index.get(inode)
            if blob is not None and self._drop_blob(blob, links if self.dry_run else 0):
                del index[inode]

    def unlinked_blobs(self) -> None:
        """Every blob no snapshot links (``nlink == 1``)."""
        index = self._blob_index()
        for inode, blob in sorted(index.items(), key=lambda item: item[1]):
            if self._drop_blob(blob, self._dropped.get(inode, 0) if self.dry_run else 0):
                del index[inode]


# -- helpers ---------------------------------------------------------------------------------

def _kind(state: KeyState) -> str:
    if state.kind == MANAGED:
        return MANAGED
    if state.kind == UNMANAGED and os.path.isdir(state.path):
        return UNMANAGED
    return LEFTOVER


def _tmp_key(name: str) -> str | None:
    """The key of a temporary link ``<key>.<hex>.tokacq-tmp`` in ``.tokacq/tmp``."""
    key = name.removesuffix(TMP_SUFFIX).rpartition(".")[0]
    return key if name.endswith(TMP_SUFFIX) and _valid_key(key) else None


def _valid_key(name: str) -> bool:
    try:
        check_cache_key(name)
    except InvalidRequest:
        return False
    return True


def _names(directory: Path) -> list[str]:
    """Entries of a directory; [] when it does not exist; ``CacheWriteError`` when it
    exists but cannot be listed (the inventory would otherwise be silently wrong)."""
    try:
        with os.scandir(directory) as entries:
            return sorted(e.name for e in entries)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise CacheWriteError(directory, f"it cannot be read ({exc.strerror or exc})") from None


def _remove_deep_tree(path: Path) -> None:
    """``shutil.rmtree`` without recursion, for a tree too deep for it: files and links
    (links to directories too) are unlinked, never followed; then the directories, deepest
    first. ``OSError`` as ``rmtree`` would raise it."""
    directories: list[str] = []
    for dirpath, dirs, files in walk(path, onerror=_raise):
        directories.append(dirpath)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            os.unlink(os.path.join(dirpath, name))
    for directory in reversed(directories):
        os.rmdir(directory)


def _raise(error: OSError) -> None:
    raise error


def _is_real_directory(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _regular_files(path: Path) -> list[os.stat_result]:
    """lstat of every regular file at or under ``path``, no link followed."""
    try:
        st = os.lstat(path)
    except OSError:
        return []
    if stat.S_ISREG(st.st_mode):
        return [st]
    if not stat.S_ISDIR(st.st_mode):
        return []
    out = []
    for dirpath, _, filenames in walk(path):
        for filename in filenames:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, filename))
                if stat.S_ISREG(st.st_mode):
                    out.append(st)
    return out


def _open_without_atime(path: Path) -> Any:
    """``open(path, "rb")``, with ``O_NOATIME`` where this process may use it (it owns
    the file), so checking a file does not count as an application reading it."""
    flag = getattr(os, "O_NOATIME", 0)
    if flag:
        try:
            return os.fdopen(os.open(path, os.O_RDONLY | flag), "rb")
        except PermissionError:  # EPERM: not the owner; retried without the flag
            pass
    return open(path, "rb")


def _last_access(stats: list[os.stat_result], created: float | None,
                 kind: str) -> tuple[float | None, str | None]:
    """The newest atime of the files, never earlier than ``created`` (a managed
    snapshot's creation) or, for a directory placed by hand, the newest mtime."""
    atime = max((st.st_atime for st in stats), default=None)
    if kind != MANAGED:
        created = max((st.st_mtime for st in stats), default=None)
        fallback = "modified"
    else:
        fallback = "created"
    if atime is not None and (created is None or atime > created):
        return atime, "atime"
    return created, (fallback if created is not None else None)


def _walk(directory: Path, problems: list[str],
          stats: list[os.stat_result] | None = None) -> dict[str, int]:
    """{posix relative name: size} of every file under ``directory`` (which may be a
    link to it); what cannot be read is added to ``problems``; with ``stats``, each
    file's stat result is appended to it."""
    out: dict[str, int] = {}

    def failed(error: OSError) -> None:
        if error.errno == errno.ENOENT and error.filename == str(directory):
            return
        problems.append(f"{error.filename} cannot be read ({error.strerror or error})")

    for dirpath, _, filenames in walk(directory, onerror=failed):
        for filename in filenames:
            if filename.endswith(TMP_SUFFIX):
                continue
            path = os.path.join(dirpath, filename)
            try:
                st = os.stat(path)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    problems.append(f"{path} cannot be read ({exc.strerror or exc})")
                continue
            if stat.S_ISREG(st.st_mode):
                out[Path(path).relative_to(directory).as_posix()] = st.st_size
                if stats is not None:
                    stats.append(st)
    return out


def _unsafe_name(name: str) -> bool:
    """A manifest's file name that would leave the snapshot directory, or no file name."""
    parts = name.split("/")
    return (not name or "\x00" in name or "\\" in name or name.startswith("/")
            or any(p in ("", ".", "..") for p in parts))


def _check_file(key: str, name: str, directory: Path, entry: ManifestEntry) -> FileCheck:
    if _unsafe_name(name):
        return FileCheck(key, repr(name), "corrupt",
                         "the manifest names a path outside the snapshot")
    path = directory / name
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return FileCheck(key, name, "missing", f"recorded in the manifest, absent from "
                         f"{directory}")
    except OSError as exc:
        return FileCheck(key, name, "unreadable", exc.strerror or str(exc))
    if not stat.S_ISREG(st.st_mode):
        return FileCheck(key, name, "corrupt", "not a regular file")
    if st.st_size != entry.size:
        return FileCheck(key, name, "corrupt", f"size {st.st_size}, manifest says {entry.size}")
    digest = hashlib.sha256()
    try:
        with _open_without_atime(path) as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except FileNotFoundError:
        return FileCheck(key, name, "missing", "removed while being checked")
    except OSError as exc:
        return FileCheck(key, name, "unreadable", exc.strerror or str(exc))
    if entry.sha256 is not None and digest.hexdigest() != entry.sha256:
        return FileCheck(key, name, "corrupt",
                         f"sha256 {digest.hexdigest()}, manifest says {entry.sha256}")
    return FileCheck(key, name, "ok")


__all__ = ["FAILING", "LEFTOVER", "MANAGED", "UNMANAGED", "CacheInventory", "CachedFile",
           "CachedTokenizer", "FileCheck", "PruneReport", "VerifyReport"]
