"""Partial-download names unique to a process and call, and handing over orphaned ones.

A partial is ``<file>.<tag>.<owner>.tokacq-partial`` where ``tag`` identifies the
repo and revision (stable across runs) and ``owner`` is ``<host>@<pid>@<n>``: no two
downloads, in this process or another, ever write the same file, even on filesystems
where the cache-key lock does nothing.

A new download still resumes what an earlier one left: before starting it *adopts*
(atomically renames to its own name) the largest partial for the same file and tag
whose owner is certainly gone:

- this host, this pid, and not in use by a download in this process (a cancelled or
  failed earlier call);
- this host and a pid that no longer exists (a killed process);
- another host (or an unreadable owner), untouched for ``FOREIGN_STALE_S``: its owner
  cannot be asked, so only age tells.

Two adopters racing for one partial: ``rename`` lets exactly one win; the other finds
the name gone and starts fresh. Companions (``<partial>.validator.json``) follow the
partial they belong to; a partial whose sidecar did not follow is discarded on load.

"Host" is the host name plus the pid namespace, so containers sharing a volume and a
host name but not pids never take each other's pids for their own.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import itertools
import os
import re
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote

SUFFIX = ".tokacq-partial"
#: Another host's partial untouched this long is taken to be abandoned.
FOREIGN_STALE_S = 3600.0

_sequence = itertools.count()
_in_use: set[Path] = set()
_guard = threading.Lock()
_OWNER = re.compile(r"^(?P<host>[A-Za-z0-9_-]+)@(?P<pid>\d+)@(?P<n>\d+)$")


@functools.cache
def host_id() -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return name
    return f"{name}-{namespace}"


def fresh_path(directory: Path, file: str, tag: str) -> Path:
    """A name no other download has, or will have."""
    owner = f"{host_id()}@{os.getpid()}@{next(_sequence)}"
    return directory / f"{quote(file, safe='')}.{tag}.{owner}{SUFFIX}"


def claim(directory: Path, file: str, tag: str) -> Path:
    """A fresh partial, holding an adopted orphan's bytes if any, in use until ``release``.

    Blocking (a listing, stats, renames under a process-wide lock): async callers run it
    in a thread.
    """
    path = fresh_path(directory, file, tag)
    with _guard:
        # Under the guard: no download of this process can start using the orphan meanwhile.
        adopt(directory, f"{quote(file, safe='')}.{tag}.", path)
        _in_use.add(path)
    return path


def release(path: Path) -> None:
    """End ``claim``'s reservation: the partial becomes adoptable by a later download."""
    with _guard:
        _in_use.discard(path)


def adopt(directory: Path, prefix: str, target: Path) -> Path | None:
    """Rename the best abandoned partial starting with ``prefix`` to ``target``."""
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    candidates: list[tuple[int, Path]] = []
    for name in names:
        if not (name.startswith(prefix) and name.endswith(SUFFIX)):
            continue
        path = directory / name
        try:
            st = os.stat(path)
        except OSError:
            continue
        if _abandoned(name[len(prefix):-len(SUFFIX)], path, st.st_mtime):
            candidates.append((st.st_size, path))
    for _, orphan in sorted(candidates, reverse=True):
        try:
            os.rename(orphan, target)
        except OSError:
            continue  # another adopter won it
        for companion in directory.glob(f"{glob.escape(orphan.name)}?*"):
            with contextlib.suppress(OSError):
                os.rename(companion, target.with_name(
                    target.name + companion.name[len(orphan.name):]))
        return orphan
    return None


def _abandoned(owner: str, path: Path, mtime: float) -> bool:
    match = _OWNER.match(owner)
    if match is None or match["host"] != host_id():
        return time.time() - mtime > FOREIGN_STALE_S
    pid = int(match["pid"])
    if pid == os.getpid():
        return path not in _in_use
    return not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True

