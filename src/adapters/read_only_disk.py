"""What the read-only sources (HF cache, local directory) share: stat through links, hash.

Nothing here writes, locks or creates a directory, so it works on a read-only mount.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ..domain.cache_policy import FileFacts


def resolve_regular_file(path: Path) -> tuple[FileFacts, Path] | None:
    """Facts about ``path`` (kept as the caller's path) and the real file it leads to.

    None when it is absent, a dangling or looping link, or not a regular file. Whether the
    real file lies somewhere acceptable is the caller's rule.
    """
    try:
        real = Path(os.path.realpath(path, strict=True))
        st = os.stat(real)
    except (OSError, RuntimeError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return FileFacts(path=path, size=st.st_size, mtime_ns=st.st_mtime_ns), real


def real_directory(path: Path) -> Path:
    """``path`` with every link resolved (it need not exist)."""
    return Path(os.path.realpath(path))


def sha256_of(path: Path) -> str | None:
    """The file's sha256 in hex; None if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


class DigestMemo:
    """sha256 of files, remembered by (path, size, mtime, inode).

    A lock file pins every file, so a service would otherwise hash each whole tokenizer
    on every request; an unchanged file is hashed once.
    """

    def __init__(self, capacity: int = 256) -> None:
        self._digests: dict[tuple[str, int, int, int], str | None] = {}
        self._capacity = capacity
        self._guard = threading.Lock()

    def sha256(self, real: Path) -> str | None:
        try:
            st = os.stat(real)
        except OSError:
            return None
        key = (str(real), st.st_size, st.st_mtime_ns, st.st_ino)
        with self._guard:
            if key in self._digests:
                return self._digests[key]
        digest = sha256_of(real)
        with self._guard:
            if len(self._digests) >= self._capacity:
                self._digests.clear()
            self._digests[key] = digest
        return digest


#: A directory is listed for discovery up to this many entries.
MAX_LISTED_FILES = 10_000


def walk(top: Path | str, onerror: Callable[[OSError], None] | None = None
         ) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk(top, onerror=onerror)`` (top-down, links to directories listed but not
    entered; ``dirs`` may be pruned in place) without recursion: Python 3.11's ``os.walk``
    recurses once per level, so a tree 1,000 levels deep raised ``RecursionError``."""
    stack = [os.fspath(top)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except OSError as exc:
            if onerror is not None:
                onerror(exc)
            continue
        dirs: list[str] = []
        files: list[str] = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            (dirs if is_dir else files).append(entry.name)
        yield current, dirs, files
        for name in reversed(dirs):
            path = os.path.join(current, name)
            if not os.path.islink(path):
                stack.append(path)


def file_names(directory: Path, *, limit: int = MAX_LISTED_FILES) -> tuple[str, ...]:
    """Relative posix paths of the files (and links) under ``directory``, for discovery
    over a directory placed by hand; dot-entries skipped, links to directories not
    followed, at most ``limit`` entries visited. Each name is checked again by ``locate``."""
    out: list[str] = []
    visited = 0
    for base, dirs, files in walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            visited += 1
            if visited > limit:
                return tuple(out)
            if not name.startswith("."):
                out.append((Path(base) / name).relative_to(directory).as_posix())
    return tuple(out)
