"""Partial-download names unique to a process and call, and handing over orphaned ones.

A partial is ``<stem>.<tag>.<owner>.tokacq-partial`` where ``stem`` is the file name
(percent-encoded, or a hash of it when long), ``tag`` identifies the repo and revision
(stable across runs) and ``owner`` is ``<host>@<pid>@<n>``: no two downloads, in this
process or another, ever create the same file, even on filesystems where the cache-key
lock does nothing. A partial's name, with its sidecar's suffix, stays well under the
255-byte NAME_MAX whatever the file name (a 21-character CJK name is 189 bytes encoded).

A new download still resumes what an earlier one left: before starting it *adopts*
(locks, then atomically renames to its own name) the largest partial for the same file
and tag that nobody writes. Who writes is told by the lock, not by names or clocks
(issue 9, reproduction 4): a writer holds ``flock`` on its partial for as long as it owns
it (``partial_file``), so a partial whose lock cannot be taken is live and is never
adopted, whatever its age or host. Besides the lock, a partial named after a live
process of this host stays that process's (older versions did not lock), and one of this
process stays with the download that reserved it.

Where the filesystem has no ``flock`` (ENOLCK, EOPNOTSUPP), the old rules decide alone:
this host's partials by their owner's pid, another host's after ``FOREIGN_STALE_S``
untouched (its owner cannot be asked, so only age tells).

Two adopters racing for one partial: the lock lets exactly one win; the other finds it
busy (or the name gone) and starts fresh. Companions (``<partial>.validator.json``)
follow the partial they belong to; a partial whose sidecar did not follow is discarded
on load.

"Host" is the host name plus the pid namespace, so containers sharing a volume and a
host name but not pids never take each other's pids for their own.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import itertools
import os
import re
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote

from . import partial_file

SUFFIX = ".tokacq-partial"
#: Where ``flock`` is unsupported: another host's partial untouched this long is abandoned.
FOREIGN_STALE_S = 3600.0
#: Longest file-name stem kept readable; longer names are replaced by a hash.
MAX_STEM_BYTES = 64

_sequence = itertools.count()
_guard = threading.Lock()
_OWNER = re.compile(r"^(?P<host>[A-Za-z0-9_-]+)@(?P<pid>\d+)@(?P<n>\d+)$")


@functools.cache
def host_id() -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64] or "host"
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return name
    return f"{name}-{namespace}"


def stem(file: str) -> str:
    """The file name as it appears in partial names: percent-encoded when that is short,
    else ``%sha256-<32 hex>`` of the name (``%s`` never occurs in an encoded name)."""
    quoted = quote(file, safe="")
    if len(quoted) <= MAX_STEM_BYTES:
        return quoted
    return "%sha256-" + hashlib.sha256(file.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def fresh_path(directory: Path, file: str, tag: str) -> Path:
    """A name no other download has, or will have."""
    owner = f"{host_id()}@{os.getpid()}@{next(_sequence)}"
    return directory / f"{stem(file)}.{tag}.{owner}{SUFFIX}"


def claim(directory: Path, file: str, tag: str) -> Path:
    """A fresh partial, holding an adopted orphan's bytes if any, owned until ``release``.

    Blocking (a listing, stats, locks, renames under a process-wide lock): async callers
    run it in a thread.
    """
    path = fresh_path(directory, file, tag)
    with _guard:
        # Under the guard: no download of this process can start using the orphan meanwhile.
        partial_file.reserve(path)
        adopt(directory, f"{stem(file)}.{tag}.", path)
    return path


def release(path: Path) -> None:
    """End ``claim``'s ownership: the partial's lock is dropped, and it becomes adoptable
    by a later download."""
    with _guard:
        partial_file.release(path)


def adopt(directory: Path, prefix: str, target: Path) -> Path | None:
    """Lock and rename the largest unwritten partial starting with ``prefix`` to ``target``.

    ``target`` then belongs to this process's download with the adopted file's lock (see
    ``partial_file.adopt_into``).
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    candidates: list[tuple[int, Path, float, str]] = []
    for name in names:
        if not (name.startswith(prefix) and name.endswith(SUFFIX)):
            continue
        path = directory / name
        try:
            st = os.stat(path)
        except OSError:
            continue
        owner = name[len(prefix):-len(SUFFIX)]
        if not _kept_by_owner(owner, path):
            candidates.append((st.st_size, path, st.st_mtime, owner))
    for _, orphan, mtime, owner in sorted(candidates, reverse=True):
        if not partial_file.adopt_into(
                orphan, target, unlocked_ok=functools.partial(_stale, owner, mtime)):
            continue  # live (locked), or another adopter won it
        for companion in directory.glob(f"{glob.escape(orphan.name)}?*"):
            with contextlib.suppress(OSError):
                os.rename(companion, target.with_name(
                    target.name + companion.name[len(orphan.name):]))
        return orphan
    return None


def _kept_by_owner(owner: str, path: Path) -> bool:
    """This host's partials stay with a live owner process (or a live download of ours)."""
    match = _OWNER.match(owner)
    if match is None or match["host"] != host_id():
        return False  # another host: its lock tells (``_stale`` where there is none)
    pid = int(match["pid"])
    if pid == os.getpid():
        return partial_file.is_owned(path)
    return _alive(pid)


def _stale(owner: str, mtime: float) -> bool:
    """Without ``flock``: another host's partial is abandoned only after a long silence."""
    match = _OWNER.match(owner)
    if match is not None and match["host"] == host_id():
        return True  # ``_kept_by_owner`` already found its owner gone
    return time.time() - mtime > FOREIGN_STALE_S


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True
