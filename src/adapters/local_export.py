"""Materialize an acquired set as plain files in a directory of the user's (``--local-dir``).

What ``hf download --local-dir`` gives: ``DIR/<file>`` for each file of the set, readable
by any tool, with no link into the cache. Files are hard-linked to the cache's snapshot
when the directory is on the same filesystem (no copy, no extra space), else copied.
Each file is placed by a rename of a temporary sibling, so a reader of ``DIR`` never sees
a half-written file and an existing file is replaced whole. A hard link shares the
cache's inode: editing the file in place also changes the cached bytes, which the cache
detects (the stamp changes, the content is hashed again) and never serves.

A file already in ``DIR`` under a name of the set is replaced (as ``hf download
--local-dir`` does), and said: ``Exported.replaced`` names every file whose previous
content differed, and the CLI prints them. A file that already is the cache's (the same
inode, from an earlier export) is left as it is. Nothing else in ``DIR`` is touched.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..domain.errors import CacheWriteError

_NO_LINK = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP,
                      errno.EOPNOTSUPP, errno.ENOSYS, errno.EACCES})


@dataclass(frozen=True)
class Exported:
    """Where each file went, and how many were hard-linked rather than copied."""

    directory: Path
    files: Mapping[str, Path]
    linked: int
    #: Files of the set that were already in the directory with other content, replaced.
    replaced: tuple[str, ...] = ()


def export_files(files: Mapping[str, Path], directory: Path) -> Exported:
    """Place every ``files[name]`` at ``directory/name`` (``CacheWriteError`` on failure)."""
    placed: dict[str, Path] = {}
    linked = 0
    replaced: list[str] = []
    root = directory.resolve()
    for name, source in files.items():
        target = directory.joinpath(*name.split("/"))
        if not target.resolve().is_relative_to(root):
            raise CacheWriteError(target, "the file would land outside the directory")
        try:
            previous = _previous(target, source)
            if previous == "same":  # already the cache's file (an earlier export)
                placed[name] = target
                linked += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tokacq-tmp")
            try:
                try:
                    os.link(source, temporary)
                    hard_linked = True
                except OSError as exc:
                    if exc.errno not in _NO_LINK:
                        raise
                    shutil.copyfile(source, temporary)
                    hard_linked = False
                os.replace(temporary, target)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            linked += hard_linked
        except OSError as exc:
            raise CacheWriteError(target, exc.strerror or str(exc)) from None
        if previous == "other":
            replaced.append(name)
        placed[name] = target
    return Exported(directory=directory, files=placed, linked=linked,
                    replaced=tuple(replaced))


def _previous(target: Path, source: Path) -> str | None:
    """What ``target`` holds now: None (nothing), "same" (the source's inode), "equal"
    (a copy of the same bytes: replaced by a link, not reported), "other" (a file with
    other content, a symlink, or something that is not a file)."""
    try:
        held = target.lstat()
    except FileNotFoundError:
        return None
    if not target.is_file() or target.is_symlink():
        return "other"
    cached = source.stat()
    if (held.st_dev, held.st_ino) == (cached.st_dev, cached.st_ino):
        return "same"
    if held.st_size == cached.st_size and _same_bytes(target, source):
        return "equal"
    return "other"


def _same_bytes(a: Path, b: Path) -> bool:
    with a.open("rb") as left, b.open("rb") as right:
        while True:
            chunk = left.read(1 << 20)
            if chunk != right.read(1 << 20):
                return False
            if not chunk:
                return True
