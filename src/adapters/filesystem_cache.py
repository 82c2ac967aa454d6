"""Our cache on a local filesystem: ``<root>/<cache_key>/<file>``, bookkeeping in ``.tokacq``.

Layout::

    <root>/<cache_key>/<file>                       tokenizer files, nothing else
    <root>/.tokacq/manifests/<cache_key>.json       size, sha256, etag, commit, source per file
    <root>/.tokacq/partials/<cache_key>/...         downloads in progress (resumable)
    <root>/.tokacq/locks/<cache_key>.lock           cross-process locks

Cache keys never start with a dot, so no lookup can mistake bookkeeping for a tokenizer.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..domain.cache_policy import FileFacts, Located
from ..domain.errors import CacheWriteError
from ..domain.manifest import ManifestEntry
from ..domain.request import TokenizerDownloadInfo
from ..ports.cache import TokenizerCache
from . import staging

BOOKKEEPING = ".tokacq"
_Stamp = tuple[int, int, int, int]
MANIFEST_VERSION = 1
#: Manifest updates are read-modify-write; publications run in worker threads.
_manifest_guard = threading.Lock()


def fsync_directory(path: Path) -> None:
    """Make a rename durable; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(target: Path, data: bytes) -> None:
    """Write to a temp file beside ``target``, fsync, rename: readers see old or new, never half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tokacq-tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(target.parent)


class FileSystemCache(TokenizerCache):
    """Stats and reads without writing on lookups, so a read-only cache serves hits."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser()
        self._manifest_memo: dict[str, tuple[_Stamp, dict[str, ManifestEntry]]] = {}
        self._plans: dict[tuple[str, tuple[str, ...]], _LookupPlan] = {}

    @property
    def description(self) -> str:
        return f"the cache at {self.root}"

    @property
    def bookkeeping(self) -> Path:
        return self.root / BOOKKEEPING

    def directory(self, cache_key: str) -> Path:
        return self.root / cache_key

    def manifest_path(self, cache_key: str) -> Path:
        return self.bookkeeping / "manifests" / f"{cache_key}.json"

    def lock_path(self, cache_key: str) -> Path:
        return self.bookkeeping / "locks" / f"{cache_key}.lock"

    def exists(self) -> bool:
        return self.root.is_dir()

    # -- read side -------------------------------------------------------------------------

    def locate(self, info: TokenizerDownloadInfo) -> Located:
        """Facts about the request's files; a repeat lookup of unchanged files is a few stats.

        The hit path of a service runs this on every request, so the paths are prepared
        once per (key, files) and the last answer is reused while every ``lstat`` (key
        directory, files, their sub-directories, the manifest) returns the same identity.
        """
        plan = self._plans.get((info.cache_key, info.files))
        if plan is None:
            plan = self._plan(info)
        signature = plan.signature()
        last = plan.last  # one tuple, so threads never pair a signature with another answer
        if signature is not None and last is not None and last[0] == signature:
            return last[1]
        located = self._locate(info)
        plan.last = (signature, located)
        return located

    def _plan(self, info: TokenizerDownloadInfo) -> _LookupPlan:
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        directory = self.directory(info.cache_key)
        watched = [str(directory)]
        for name in info.files:
            watched.extend(str(parent) for parent in _parents(directory, name))
            watched.append(str(directory / name))
        watched.append(str(self.manifest_path(info.cache_key)))
        plan = _LookupPlan(tuple(dict.fromkeys(watched)))
        self._plans[(info.cache_key, info.files)] = plan
        return plan

    def _locate(self, info: TokenizerDownloadInfo) -> Located:
        directory = self.directory(info.cache_key)
        found: dict[str, FileFacts] = {}
        if self._stays_inside(directory):
            for name in info.files:
                if "/" in name and not self._stays_inside(*_parents(directory, name)):
                    continue
                facts = self._facts(directory / name)
                if facts is not None:
                    found[name] = facts
        manifest = self.read_manifest(info.cache_key) if found else {}
        return Located(directory=directory, found=found, manifest=manifest)

    def _inside_root(self, path: Path | str) -> bool:
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(self.root))

    def _stays_inside(self, *directories: Path) -> bool:
        """No directory on the way is a link leading out of the cache (one lstat each)."""
        for directory in directories:
            try:
                st = os.lstat(directory)
            except OSError:
                return True  # absent: the file lookups below simply miss
            if stat.S_ISLNK(st.st_mode) and not self._inside_root(directory):
                return False
        return True

    def _facts(self, path: Path) -> FileFacts | None:
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(st.st_mode):
            # A link placed by hand may point at a checkout, but never out of the cache root.
            real = Path(os.path.realpath(path))
            if not self._inside_root(real):
                return None
            try:
                st = os.stat(real)
            except OSError:
                return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return FileFacts(path=path, size=st.st_size, mtime_ns=st.st_mtime_ns)

    def read_bytes(self, located: Located, file: str) -> bytes:
        return located.found[file].path.read_bytes()

    def read_manifest(self, cache_key: str) -> dict[str, ManifestEntry]:
        """Entries by file; an unreadable or corrupt manifest is treated as absent."""
        path = self.manifest_path(cache_key)
        try:
            st = os.stat(path)
        except OSError:
            return {}
        # Rewrites are renames, so a new inode marks a new manifest even where timestamps
        # are coarse and the size did not change.
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
        memo = self._manifest_memo.get(cache_key)
        if memo is not None and memo[0] == stamp:
            return memo[1]
        entries = _parse_manifest(path)
        self._manifest_memo[cache_key] = (stamp, entries)
        return entries

    # -- write side ------------------------------------------------------------------------

    def ensure_writable(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise CacheWriteError(self.root, "it exists and is not a directory")
        try:
            self.bookkeeping.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheWriteError(self.root, exc.strerror or str(exc)) from None
        if not os.access(self.bookkeeping, os.W_OK) or not os.access(self.root, os.W_OK):
            raise CacheWriteError(self.root, "the directory is not writable")

    def partials(self, cache_key: str) -> Path:
        return self.bookkeeping / "partials" / cache_key

    def staging_path(self, cache_key: str, file: str, tag: str) -> Path:
        """A fresh name, unique to this process and call (see ``adapters/staging.py``)."""
        return staging.fresh_path(self.partials(cache_key), file, tag)

    def reserve_staging(self, cache_key: str, file: str, tag: str) -> Path:
        """A unique partial, holding the bytes an abandoned one left for this tag if any."""
        return staging.claim(self.partials(cache_key), file, tag)

    def release_staging(self, staged: Path) -> None:
        staging.release(staged)

    def publish(self, cache_key: str, file: str, staged: Path, entry: ManifestEntry) -> Path:
        target = self.place(cache_key, file, staged, entry)
        self.record_many(cache_key, {file: entry})
        return target

    def place(self, cache_key: str, file: str, staged: Path, entry: ManifestEntry) -> Path:
        """Rename the verified, fsynced partial into place and fsync its directory; the
        manifest entry follows with ``record_many`` (until then the file reads as placed
        by hand, which a crash in between leaves it as: verified, just not described)."""
        target = self.directory(cache_key) / file
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if not self._inside_root(target.parent):
                raise CacheWriteError(target, "a directory on its path is a link leading "
                                      "out of the cache; remove it")
            os.replace(staged, target)
            fsync_directory(target.parent)
        except OSError as exc:
            raise CacheWriteError(target, exc.strerror or str(exc)) from None
        return target

    def record(self, cache_key: str, file: str, entry: ManifestEntry) -> None:
        """Add or replace one manifest entry, atomically (see ``record_many``)."""
        self.record_many(cache_key, {file: entry})

    def record_many(self, cache_key: str, entries: Mapping[str, ManifestEntry]) -> None:
        """Add or replace manifest entries with one atomic rewrite of the manifest.

        Serialised within the process. Across processes the cache-key lock serialises
        it; where locks are no-ops two writers can race and one entry may be lost. The
        file stays (it was verified before publication) and reads as placed by hand.
        """
        if not entries:
            return
        with _manifest_guard:
            try:
                self._record(cache_key, entries)
            except OSError as exc:
                raise CacheWriteError(self.manifest_path(cache_key),
                                      exc.strerror or str(exc)) from None

    def _record(self, cache_key: str, new: Mapping[str, ManifestEntry]) -> None:
        path = self.manifest_path(cache_key)
        entries = dict(_parse_manifest(path)) if path.exists() else {}
        entries.update(new)
        doc: dict[str, Any] = {
            "version": MANIFEST_VERSION,
            "cache_key": cache_key,
            "files": {name: e.to_dict() for name, e in sorted(entries.items())},
        }
        write_atomically(path, json.dumps(doc, indent=2, sort_keys=True).encode())
        self._manifest_memo.pop(cache_key, None)


def _parse_manifest(path: Path) -> dict[str, ManifestEntry]:
    try:
        doc = json.loads(path.read_bytes())
        files = doc["files"]
        return {str(name): ManifestEntry.from_dict(data) for name, data in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _parents(directory: Path, file: str) -> list[Path]:
    """The sub-directories of ``directory`` that ``file`` passes through, outermost first."""
    parts = file.split("/")[:-1]
    return [directory.joinpath(*parts[: i + 1]) for i in range(len(parts))]


_MAX_PLANS = 256


class _LookupPlan:
    """The paths one request's lookup stats, and the answer given for their last state."""

    __slots__ = ("last", "paths")

    def __init__(self, paths: tuple[str, ...]) -> None:
        self.paths = paths
        self.last: tuple[tuple[object, ...] | None, Located] | None = None

    def signature(self) -> tuple[object, ...] | None:
        """Identity of every watched path; None when a link is involved (never reused)."""
        out: list[object] = []
        for path in self.paths:
            try:
                st = os.lstat(path)
            except OSError:
                out.append(None)
                continue
            if stat.S_ISLNK(st.st_mode):
                return None
            out.append((st.st_mode, st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns))
        return tuple(out)
