"""Our cache on a local filesystem: sets published atomically, bytes verified on every hit.

Layout::

    <root>/<cache_key>                         a symlink to the key's current snapshot
                                               (or a real directory placed by hand)
    <root>/.tokacq/blobs/<sha256>              verified content, named by its sha256
    <root>/.tokacq/snapshots/<key>/<sid>/      one set: hard links to blobs, plain names
    <root>/.tokacq/snapshots/<key>/<sid>.json  its manifest (``domain/manifest.py``)
    <root>/.tokacq/partials/<key>/...          downloads in progress, and the journal of
                                               files verified for a set not yet published
    <root>/.tokacq/locks/<key>.lock            cross-process locks
    <root>/.tokacq/tmp/                        links and files being renamed into place

Why this shape (issue 9): a reader must see a key's previous complete set or its new
one, never a mix, whatever point a writer is killed at, and what it serves must be the
bytes that were verified.

- Publication: every file is verified and moved into ``blobs/`` (a rename of the
  fsynced partial); a snapshot directory of hard links is built under a unique name; its
  manifest is written and fsynced; then one ``rename`` of a symlink makes
  ``<root>/<key>`` show it. Before that rename readers see the old set, after it the new
  one (the rename itself is not waited for on disk: after a power cut the key shows the
  old complete set or the new one). ``<root>/<key>/`` stays a directory of plain-named
  files for ``ls`` and ``AutoTokenizer.from_pretrained``; results name the snapshot
  directory itself, so a caller reading several files never straddles a later swap.
- Hits: the manifest records each file's sha256 and its stamp (device, inode, size,
  mtime_ns, ctime_ns) when published. A lookup that finds the same stamp knows the bytes
  are the verified ones; another stamp (a write, a new link) means the file is hashed
  again (once per process and stamp). So a same-size byte flip is never served.
- Crashes: a file verified before a kill is in ``blobs/`` and in the set's journal, so
  the next run reuses it (after hashing it again) instead of downloading it; a snapshot
  that was never linked, a temporary file or a journal is removed by ``cache prune
  --partials``; nothing is ever half-visible.
- Ownership: only keys whose link points into ``snapshots/<key>/`` are managed. A real
  directory is the operator's: it is served as placed by hand and never replaced or
  deleted (an empty one may be replaced).
- Superseded snapshots are removed at a later publication of the key once they are
  ``GRACE_S`` old (a reader still holding their paths keeps working meanwhile), with
  the blobs no snapshot links any more.

Every file is created with mode 0666 minus the umask, so a cache filled by root under
umask 022 is readable by a service user. Cache keys never start with a dot, so no
lookup mistakes bookkeeping for a tokenizer.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..domain.cache_policy import FileFacts, Located
from ..domain.errors import CacheWriteError
from ..domain.manifest import MAX_MANIFEST_BYTES, ManifestEntry, ManifestError, Snapshot, Stamp
from ..domain.request import TokenizerDownloadInfo
from ..ports.cache import TokenizerCache
from . import staging
from .partial_file import cache_write_errors
from .read_only_disk import file_names, sha256_of

BOOKKEEPING = ".tokacq"
TMP_SUFFIX = ".tokacq-tmp"
JOURNAL_SUFFIX = ".tokacq-set"
#: Superseded snapshots (and blobs no snapshot links) older than this are removed.
GRACE_S = 900.0
_SID = re.compile(r"^[0-9a-z]{1,64}-[0-9a-f]{8}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}\Z")
#: The directories of ``.tokacq`` (none may be a symlink).
_AREAS = ("blobs", "snapshots", "partials", "locks", "tmp")
#: Partial writes of the journal are serialised within the process.
_journal_guard = threading.Lock()


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


def write_atomically(target: Path, data: bytes, *, durable: bool = True,
                     make_parents: bool = True) -> None:
    """Write to a temp file beside ``target``, fsync, rename: readers see old or new, never
    half. The file gets mode 0666 minus the umask (``mkstemp``'s 0600 would lock other
    users out of a shared cache). ``durable=False`` skips the fsyncs (for hints that only
    save work, such as a partial's validator)."""
    if make_parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_directory(target.parent)


def stamp_of(st: os.stat_result) -> Stamp:
    """What changes whenever a file's bytes do (ctime cannot be set back by a writer)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class DigestCache:
    """sha256 of files by stamp, so an unchanged file is hashed once per process."""

    def __init__(self, capacity: int = 1024) -> None:
        self._digests: dict[Stamp, str] = {}
        self._capacity = capacity
        self._guard = threading.Lock()

    def sha256(self, path: Path, st: os.stat_result) -> str | None:
        key = stamp_of(st)
        with self._guard:
            known = self._digests.get(key)
        if known is not None:
            return known
        digest = sha256_of(path)
        try:
            unchanged = stamp_of(os.stat(path)) == key
        except OSError:
            unchanged = False
        if digest is None or not unchanged:
            return None  # changed while hashing: nothing reliable to remember
        with self._guard:
            if len(self._digests) >= self._capacity:
                self._digests.clear()
            self._digests[key] = digest
        return digest


@dataclass(frozen=True)
class KeyState:
    """What ``<root>/<key>`` is: ``absent``, ``managed`` (a link to one of our snapshots),
    ``unmanaged`` (a real directory or a link placed by hand), or ``other`` (a file).

    For a managed key: ``sid`` and ``snapshot`` (or ``problem`` when its manifest cannot
    be read)."""

    kind: str
    path: Path
    directory: Path
    sid: str | None = None
    snapshot: Snapshot | None = None
    problem: str | None = None


class FileSystemCache(TokenizerCache):
    """Stats and reads without writing on lookups, so a read-only cache serves hits."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser()
        self._digests = DigestCache()
        self._manifests: dict[Path, tuple[tuple[int, ...], Snapshot | ManifestError]] = {}
        self._last: dict[tuple[str, tuple[str, ...]], tuple[tuple[object, ...], Located]] = {}
        self._plans: dict[tuple[str, tuple[str, ...]],
                          tuple[str, str, str, str, tuple[str, ...]]] = {}

    @property
    def description(self) -> str:
        return f"the cache at {self.root}"

    @property
    def bookkeeping(self) -> Path:
        return self.root / BOOKKEEPING

    @property
    def blobs(self) -> Path:
        return self.bookkeeping / "blobs"

    def directory(self, cache_key: str) -> Path:
        return self.root / cache_key

    def snapshots(self, cache_key: str) -> Path:
        return self.bookkeeping / "snapshots" / cache_key

    def partials(self, cache_key: str) -> Path:
        return self.bookkeeping / "partials" / cache_key

    def lock_path(self, cache_key: str) -> Path:
        return self.bookkeeping / "locks" / f"{cache_key}.lock"

    def journal_path(self, cache_key: str, tag: str) -> Path:
        return self.partials(cache_key) / f"{tag}{JOURNAL_SUFFIX}"

    def exists(self) -> bool:
        return self.root.is_dir()

    def linked_bookkeeping(self, cache_key: str | None = None) -> Path | None:
        """The first part of ``.tokacq`` that is a symlink (it would lead writes and
        deletions out of the cache): ``.tokacq`` itself, one of its directories, or a
        key's directory under ``snapshots/`` and ``partials/`` (every key's when
        ``cache_key`` is None). None when there is none."""
        candidates = [self.bookkeeping, *(self.bookkeeping / name for name in _AREAS)]
        for area in ("snapshots", "partials"):
            if cache_key is not None:
                candidates.append(self.bookkeeping / area / cache_key)
            elif not os.path.islink(self.bookkeeping) \
                    and not os.path.islink(self.bookkeeping / area):
                with contextlib.suppress(OSError), os.scandir(self.bookkeeping / area) as it:
                    candidates.extend(Path(e.path) for e in it if e.is_symlink())
        return next((path for path in candidates if os.path.islink(path)), None)

    def _link_target(self, cache_key: str, sid: str) -> str:
        return f"{BOOKKEEPING}/snapshots/{cache_key}/{sid}"

    # -- read side -------------------------------------------------------------------------

    def state(self, cache_key: str) -> KeyState:
        """What the key's path is, and for a managed key its snapshot and manifest."""
        path = self.directory(cache_key)
        try:
            st = os.lstat(path)
        except OSError:
            return KeyState("absent", path, path)
        if stat.S_ISDIR(st.st_mode):
            return KeyState("unmanaged", path, path)
        if not stat.S_ISLNK(st.st_mode):
            return KeyState("other", path, path)
        try:
            target = os.readlink(path)
        except OSError:
            return KeyState("unmanaged", path, path)
        sid = self._sid_of(cache_key, target)
        if sid is None:
            return KeyState("unmanaged", path, path)
        directory = self.snapshots(cache_key) / sid
        if os.path.islink(self.bookkeeping):
            return KeyState("managed", path, directory, sid,
                            problem=f"{self.bookkeeping} is a symlink; it is not followed")
        read = self._read_snapshot(directory.with_name(f"{sid}.json"))
        if isinstance(read, ManifestError):
            return KeyState("managed", path, directory, sid, problem=str(read))
        if read.cache_key != cache_key:
            return KeyState("managed", path, directory, sid,
                            problem="the manifest belongs to another cache key")
        return KeyState("managed", path, directory, sid, snapshot=read)

    def _sid_of(self, cache_key: str, target: str) -> str | None:
        prefix = f"{BOOKKEEPING}/snapshots/{cache_key}/"
        if not target.startswith(prefix):
            return None
        sid = target[len(prefix):]
        return sid if _SID.match(sid) else None

    def _read_snapshot(self, manifest: Path) -> Snapshot | ManifestError:
        """The parsed manifest, remembered while its stat is unchanged (rewrites are
        renames, so a new manifest has a new inode even where timestamps are coarse)."""
        try:
            st = os.stat(manifest)
        except OSError as exc:
            return ManifestError(f"{manifest} cannot be read ({exc.strerror or exc})")
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        memo = self._manifests.get(manifest)
        if memo is not None and memo[0] == key:
            return memo[1]
        try:
            with open(manifest, "rb") as handle:
                data = handle.read(MAX_MANIFEST_BYTES + 1)
            parsed: Snapshot | ManifestError = Snapshot.from_json(data)
        except OSError as exc:
            parsed = ManifestError(f"{manifest} cannot be read ({exc.strerror or exc})")
        except ManifestError as exc:
            parsed = ManifestError(f"{manifest}: {exc}")
        if len(self._manifests) >= 256:
            self._manifests.clear()
        self._manifests[manifest] = (key, parsed)
        return parsed

    def read_manifest(self, cache_key: str) -> dict[str, ManifestEntry]:
        """The current snapshot's entries by file; {} for an unmanaged or unreadable key."""
        snapshot = self.state(cache_key).snapshot
        return dict(snapshot.files) if snapshot is not None else {}

    def locate(self, info: TokenizerDownloadInfo) -> Located:
        """Facts about the request's files; a repeat lookup of unchanged files is a few stats.

        The hit path of a service runs this on every request: the answer is reused while
        the key's link, every requested file and the manifest stat the same.
        """
        memo_key = (info.cache_key, info.files)
        signature = self._signature(info)
        last = self._last.get(memo_key)
        if signature is not None and last is not None and last[0] == signature \
                and _same_pins(last[1], info):
            return last[1]
        located = self._locate(info)
        if signature is not None:
            if len(self._last) >= 256:
                self._last.clear()
            self._last[memo_key] = (signature, located)
        return located

    def _signature(self, info: TokenizerDownloadInfo) -> tuple[object, ...] | None:
        """The identity of everything a lookup depends on; None: do not reuse.

        Plain strings prepared once per (key, files): building ``Path`` objects cost more
        than the system calls themselves on this path.
        """
        plan = self._plans.get((info.cache_key, info.files))
        if plan is None:
            if len(self._plans) >= 256:
                self._plans.clear()
            snapshots = str(self.snapshots(info.cache_key))
            plan = self._plans[(info.cache_key, info.files)] = (
                str(self.directory(info.cache_key)),
                f"{BOOKKEEPING}/snapshots/{info.cache_key}/", snapshots,
                str(self.bookkeeping), tuple(f"/{name}" for name in info.files))
        key_path, link_prefix, snapshots, bookkeeping, suffixes = plan
        try:
            target = os.readlink(key_path)
        except OSError:
            return None  # unmanaged or absent: cheap enough, and hand-placed trees vary
        if not target.startswith(link_prefix) or not _SID.match(sid := target[len(link_prefix):]):
            return None
        base = f"{snapshots}/{sid}"
        out: list[object] = [target]
        for watched in (bookkeeping, f"{base}.json", *(base + suffix for suffix in suffixes)):
            try:
                st = os.lstat(watched)
            except OSError:
                out.append(None)
                continue
            out.append((st.st_mode, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                        st.st_ctime_ns))
        return tuple(out)

    def _locate(self, info: TokenizerDownloadInfo) -> Located:
        state = self.state(info.cache_key)
        if state.kind == "managed":
            return self._locate_managed(info, state)
        if state.kind == "unmanaged":
            return self._locate_unmanaged(info, state.path)
        return Located(directory=state.path, found={})

    def _locate_managed(self, info: TokenizerDownloadInfo, state: KeyState) -> Located:
        snapshot = state.snapshot
        manifest = snapshot.files if snapshot is not None else {}
        found: dict[str, FileFacts] = {}
        for name in info.files:
            path = state.directory / name
            if "/" in name and not self._stays_inside(*_parents(state.directory, name)):
                continue  # a directory replaced by a link out of the cache: not ours
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            entry = manifest.get(name)
            digest = None
            if entry is not None:
                digest = entry.sha256 if entry.stamp == stamp_of(st) \
                    else self._digests.sha256(path, st)
            found[name] = FileFacts(path=path, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                    sha256=digest)
        if snapshot is None:
            return Located(directory=state.directory, found=found, managed=True,
                           problem=state.problem)
        return Located(directory=state.directory, found=found, manifest=manifest,
                       commit=snapshot.commit, managed=True, repo=snapshot.repo,
                       revision=snapshot.revision, selection=snapshot.selection)

    def present_files(self, info: TokenizerDownloadInfo) -> tuple[str, ...] | None:
        """The files of a key directory placed by hand (for discovery), bounded."""
        state = self.state(info.cache_key)
        if state.kind != "unmanaged" or not self._stays_inside(state.path):
            return None
        return file_names(state.path)

    def _locate_unmanaged(self, info: TokenizerDownloadInfo, directory: Path) -> Located:
        """Files placed by hand: present is enough; a pinned one is hashed."""
        found: dict[str, FileFacts] = {}
        if self._stays_inside(directory):
            for name in info.files:
                if "/" in name and not self._stays_inside(*_parents(directory, name)):
                    continue
                facts = self._facts(directory / name)
                if facts is None:
                    continue
                if info.sha256 and name in info.sha256:
                    facts = replace(facts, sha256=self._hash(facts.path))
                found[name] = facts
        return Located(directory=directory, found=found)

    def _hash(self, path: Path) -> str | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return self._digests.sha256(path, st)

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
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return None
        except OSError:
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

    # -- write side ------------------------------------------------------------------------

    def ensure_writable(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise CacheWriteError(self.root, "it exists and is not a directory")
        linked = self.linked_bookkeeping()
        if linked is not None:
            raise CacheWriteError(linked, "it is a symlink; the cache's bookkeeping "
                                  "must be a real directory (remove the link)")
        try:
            self.bookkeeping.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheWriteError(self.root, exc.strerror or str(exc)) from None
        if not os.access(self.bookkeeping, os.W_OK) or not os.access(self.root, os.W_OK):
            raise CacheWriteError(self.root, "the directory is not writable")

    def check_publishable(self, cache_key: str) -> None:
        """Raise ``CacheWriteError`` when ``<root>/<key>`` is not ours to replace."""
        linked = self.linked_bookkeeping(cache_key)
        if linked is not None:
            raise CacheWriteError(linked, "it is a symlink; the cache's bookkeeping "
                                  "must be a real directory (remove the link)")
        state = self.state(cache_key)
        if state.kind in ("absent", "managed"):
            return
        if state.kind == "unmanaged" and not os.path.islink(state.path):
            with contextlib.suppress(OSError), os.scandir(state.path) as entries:
                if not any(entries):
                    return  # an empty directory holds nothing to lose
        raise CacheWriteError(
            state.path, "it holds files the tool did not create (placed by hand); they are "
            "never replaced: move them away, or fetch into another cache_key")

    def staging_path(self, cache_key: str, file: str, tag: str) -> Path:
        """A fresh name, unique to this process and call (see ``adapters/staging.py``)."""
        return staging.fresh_path(self.partials(cache_key), file, tag)

    def reserve_staging(self, cache_key: str, file: str, tag: str) -> Path:
        """A unique partial, holding the bytes an abandoned one left for this tag if any."""
        return staging.claim(self.partials(cache_key), file, tag)

    def release_staging(self, staged: Path) -> None:
        staging.release(staged)

    def store_blob(self, staged: Path, sha256: str) -> Path:
        """Move a verified, fsynced partial into ``blobs/<sha256>``.

        A blob already there whose bytes hash to its name is kept (older snapshots link
        it: replacing it would store the content twice); anything else is replaced, these
        bytes having just been verified.
        """
        _check_digest(sha256)
        blob = self.blobs / sha256
        with cache_write_errors(blob):
            if self._hash(blob) == sha256:
                staged.unlink(missing_ok=True)
                _claim(blob)
                return blob
            self.blobs.mkdir(parents=True, exist_ok=True)
            os.replace(staged, blob)
        return blob

    def existing_blob(self, sha256: str) -> Path | None:
        """``blobs/<sha256>`` if it exists and its bytes hash to that name."""
        _check_digest(sha256)
        blob = self.blobs / sha256
        if self._hash(blob) != sha256:
            return None
        _claim(blob)
        return blob

    def pending(self, cache_key: str, tag: str) -> Snapshot | None:
        """The journal of a set not yet published: files verified and in ``blobs/``."""
        path = self.journal_path(cache_key, tag)
        try:
            with open(path, "rb") as handle:
                return Snapshot.from_json(handle.read(1 << 20))
        except (OSError, ManifestError):
            return None

    def remember(self, cache_key: str, tag: str, snapshot: Snapshot) -> None:
        """Write the journal (not fsynced: losing it only costs a download)."""
        with _journal_guard, cache_write_errors(self.journal_path(cache_key, tag)):
            write_atomically(self.journal_path(cache_key, tag), snapshot.to_json(),
                             durable=False)

    def publish(self, snapshot: Snapshot, tag: str | None = None) -> Located:
        """Link the set's blobs into a new snapshot, record it, then swap the key's link.

        Every file of ``snapshot`` must be in ``blobs/`` (``store_blob``). Returns the new
        snapshot as a lookup would see it.
        """
        key = snapshot.cache_key
        self.check_publishable(key)
        previous = self.state(key)
        sid = f"{_sid_prefix(snapshot.commit)}-{secrets.token_hex(4)}"
        directory = self.snapshots(key) / sid
        with cache_write_errors(directory):
            directory.mkdir(parents=True)
            made = self._link_files(directory, snapshot)
            fsync_directory(self.blobs)
            for sub in sorted(made, key=lambda p: -len(p.parts)):
                fsync_directory(sub)
            entries = {}
            for name, entry in snapshot.files.items():
                st = os.stat(directory / name)
                entries[name] = replace(entry, stamp=stamp_of(st))
            recorded = replace(snapshot, files=entries)
            write_atomically(directory.with_name(f"{sid}.json"), recorded.to_json())
            self._swap(key, sid)
        if tag is not None:
            with contextlib.suppress(OSError):
                self.journal_path(key, tag).unlink()
        self._collect(key, keep={sid, previous.sid or ""})
        found = {name: FileFacts(path=directory / name, size=e.size,
                                 mtime_ns=e.stamp[3] if e.stamp else 0, sha256=e.sha256)
                 for name, e in entries.items()}
        return Located(directory=directory, found=found, manifest=entries,
                       commit=snapshot.commit, managed=True, repo=snapshot.repo,
                       revision=snapshot.revision, selection=snapshot.selection)

    def _link_files(self, directory: Path, snapshot: Snapshot) -> set[Path]:
        made = {directory}
        for name, entry in snapshot.files.items():
            target = directory / name
            if target.parent != directory:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.update(p for p in target.parents if p.is_relative_to(directory))
            blob = self.blobs / str(entry.sha256)
            try:
                os.link(blob, target)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EMLINK, errno.EXDEV, errno.ENOTSUP,
                                     errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                _copy_durably(blob, target)  # a filesystem without hard links
        return made

    def _swap(self, cache_key: str, sid: str) -> None:
        """One rename makes ``<root>/<key>`` show the new snapshot."""
        tmp_dir = self.bookkeeping / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        link = tmp_dir / f"{cache_key}.{secrets.token_hex(6)}{TMP_SUFFIX}"
        os.symlink(self._link_target(cache_key, sid), link)
        path = self.directory(cache_key)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)  # empty (check_publishable): nothing of anyone's is lost
            os.replace(link, path)
        except BaseException:
            link.unlink(missing_ok=True)
            raise
        # Not fsynced (issue 15: one journal commit fewer per set): everything the new link
        # points to is durable already, so a power cut can only bring the previous complete
        # set back, never a mix; the next journal commit makes the swap durable anyway.

    def _collect(self, cache_key: str, keep: set[str]) -> None:
        """Best effort: remove the key's snapshots superseded ``GRACE_S`` ago, and blobs
        no snapshot links any more (a blob's only link is then its ``blobs/`` name).

        ``keep`` holds the snapshots just published and just superseded: their manifests'
        mtime is set to now, so a snapshot's age counts from when it stopped being
        current, not from its creation (a set served for an hour and superseded a moment
        ago stays readable ``GRACE_S`` more). Its directory and manifest are judged
        together, by the newer of the two.
        """
        now = time.time()
        base = self.snapshots(cache_key)
        for sid in keep:
            if _SID.match(sid):
                with contextlib.suppress(OSError):
                    os.utime(base / f"{sid}.json")
        try:
            names = os.listdir(base)
        except OSError:
            return
        newest: dict[str, float] = {}
        for name in names:
            sid = name.removesuffix(".json")
            if sid in keep or not _SID.match(sid):
                continue
            try:
                mtime = os.lstat(base / name).st_mtime
            except OSError:
                mtime = now  # changing under us: judged at a later publication
            newest[sid] = max(newest.get(sid, mtime), mtime)
        for sid, mtime in sorted(newest.items()):
            if now - mtime >= GRACE_S:
                # Blobs claimed within GRACE_S (stored or reused by a download of another
                # key, which holds another lock) stay for that download to link.
                self.remove_snapshot(cache_key, sid, blob_grace=GRACE_S)

    def snapshot_ids(self, cache_key: str) -> list[str]:
        """Every snapshot of the key on disk, complete or not."""
        try:
            names = os.listdir(self.snapshots(cache_key))
        except OSError:
            return []
        return sorted({n.removesuffix(".json") for n in names
                       if _SID.match(n.removesuffix(".json"))})

    def remove_snapshot(self, cache_key: str, sid: str, *, blob_grace: float = 0.0) -> int:
        """Remove one snapshot (directory and manifest) and the blobs only it linked and
        nobody claimed within ``blob_grace`` seconds; returns the bytes freed."""
        directory = self.snapshots(cache_key) / sid
        manifest = directory.with_name(f"{sid}.json")
        read = self._read_snapshot(manifest)
        digests = [] if isinstance(read, ManifestError) else \
            [e.sha256 for e in read.files.values() if e.sha256]
        shutil.rmtree(directory, ignore_errors=True)
        with contextlib.suppress(OSError):
            manifest.unlink()
        return sum(self.remove_blob_if_unused(self.blobs / d, grace=blob_grace)
                   for d in set(digests))

    def remove_blob_if_unused(self, blob: Path, *, grace: float = 0.0) -> int:
        """Unlink a blob no snapshot links (its only link is this name); bytes freed."""
        try:
            st = os.lstat(blob)
        except OSError:
            return 0
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            return 0
        if grace and time.time() - st.st_mtime < grace:
            return 0
        try:
            blob.unlink()
        except OSError:
            return 0
        return st.st_size


def _same_pins(located: Located, info: TokenizerDownloadInfo) -> bool:
    """A reused unmanaged answer carries digests only for the files pinned then."""
    if located.managed or not info.sha256:
        return True
    return all(located.found[n].sha256 is not None for n in info.sha256 if n in located.found)


def _sid_prefix(commit: str | None) -> str:
    """The commit when it is one (40 lower-case hex), else ``unknown``: a snapshot's name
    never comes from a server's text (``../x`` would leave the cache)."""
    return commit if commit is not None and _HEX40.match(commit) else "unknown"


def _claim(blob: Path) -> None:
    """Mark a blob as just claimed by a download (its mtime): a clean-up under another
    key's lock leaves it for ``GRACE_S``, so the download can still link it."""
    with contextlib.suppress(OSError):
        os.utime(blob)


def _check_digest(sha256: str) -> None:
    if not _HEX64.match(sha256):
        raise ValueError(f"not a sha256 digest: {sha256!r}")


def _copy_durably(source: Path, target: Path) -> None:
    with open(source, "rb") as src, open(target, "xb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())


def _parents(directory: Path, file: str) -> list[Path]:
    """The sub-directories of ``directory`` that ``file`` passes through, outermost first."""
    parts = file.split("/")[:-1]
    return [directory.joinpath(*parts[: i + 1]) for i in range(len(parts))]


__all__ = ["BOOKKEEPING", "GRACE_S", "FileSystemCache", "KeyState", "fsync_directory",
           "stamp_of", "write_atomically"]
