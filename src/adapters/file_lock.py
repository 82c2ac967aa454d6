"""``CacheKeyLock`` over ``filelock``: one lock file per cache key, polled from the loop.

On Unix ``filelock.FileLock`` is ``flock(2)``: the kernel drops the lock when its holder
dies, even by SIGKILL, so a crashed worker never leaves the others waiting. Waiting is
a non-blocking attempt repeated with ``asyncio.sleep`` in between (backing off to
``max_poll_s``): the event loop keeps running, and cancelling a waiter leaves nothing
behind (a thread blocked in ``acquire`` could not be cancelled and might take the lock
after its caller had gone). ``hold_sync``, for synchronous cache maintenance, polls the
same way but sleeps its thread.

``flock`` excludes open file descriptions, not processes, so two strategies of the same
process also exclude each other.

The holder writes ``<lock>.pid`` ("<pid> <host>") after taking the lock and removes it
before releasing, so a ``LockTimeout`` can name the holder. The lock file's own content
is not used: waiters open that file too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from pathlib import Path

import filelock

from ..domain.errors import CacheWriteError, LockTimeout
from ..ports.lock import CacheKeyLock


def pid_path(lock_file: Path) -> Path:
    return lock_file.with_name(lock_file.name + ".pid")


def read_holder_pid(lock_file: Path) -> int | None:
    """The pid the current holder recorded; None when unknown or unreadable."""
    try:
        first = pid_path(lock_file).read_text(encoding="ascii").split()[0]
        return int(first)
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return None


class FileKeyLock(CacheKeyLock):
    """Locks ``path_for(cache_key)``; ``FileSystemCache.lock_path`` gives
    ``<root>/.tokacq/locks/<key>.lock``."""

    def __init__(self, path_for: Callable[[str], Path], *, first_poll_s: float = 0.01,
                 max_poll_s: float = 0.25) -> None:
        self._path_for = path_for
        self._first_poll = first_poll_s
        self._max_poll = max_poll_s

    def hold(self, cache_key: str, timeout_s: float) -> AbstractAsyncContextManager[None]:
        return self._hold(self._path_for(cache_key), timeout_s)

    @asynccontextmanager
    async def _hold(self, path: Path, timeout_s: float) -> AsyncIterator[None]:
        lock = await self._acquire(path, timeout_s)
        try:
            yield
        finally:
            _release(lock, path)

    def hold_sync(self, cache_key: str, timeout_s: float) -> AbstractContextManager[None]:
        """``hold`` for synchronous callers (cache maintenance): blocks the calling thread.

        Same lock file, same pid record, same ``LockTimeout``: a download waiting for a
        key that ``tokacq cache prune`` holds names the pruning process, and vice versa.
        """
        return self._hold_sync(self._path_for(cache_key), timeout_s)

    @contextmanager
    def _hold_sync(self, path: Path, timeout_s: float) -> Iterator[None]:
        lock = _new_lock(path)
        deadline = time.monotonic() + timeout_s
        for delay in self._delays():
            if _try_acquire(lock, path):
                break
            time.sleep(_remaining(path, timeout_s, deadline, delay))
        _record_holder(lock, path)
        try:
            yield
        finally:
            _release(lock, path)

    async def _acquire(self, path: Path, timeout_s: float) -> filelock.BaseFileLock:
        lock = _new_lock(path)
        deadline = time.monotonic() + timeout_s
        for delay in self._delays():
            if _try_acquire(lock, path):
                break
            await asyncio.sleep(_remaining(path, timeout_s, deadline, delay))
        _record_holder(lock, path)
        return lock

    def _delays(self) -> Iterator[float]:
        delay = self._first_poll
        while True:
            yield delay
            delay = min(delay * 2, self._max_poll)


def _new_lock(path: Path) -> filelock.BaseFileLock:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheWriteError(path.parent, exc.strerror or str(exc)) from None
    # A fresh object per hold: filelock counts re-entries per object, and holds of
    # different tasks must exclude each other rather than nest.
    return filelock.FileLock(str(path), thread_local=False)


def _remaining(path: Path, timeout_s: float, deadline: float, delay: float) -> float:
    """How long to sleep before the next attempt; ``LockTimeout`` once the time is up."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise LockTimeout(path, timeout_s, read_holder_pid(path))
    return min(delay, remaining)


def _record_holder(lock: filelock.BaseFileLock, path: Path) -> None:
    try:
        _write_pid(path)
    except BaseException:
        _release(lock, path)
        raise


def _try_acquire(lock: filelock.BaseFileLock, path: Path) -> bool:
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return False
    except OSError as exc:
        raise CacheWriteError(path, exc.strerror or str(exc)) from None
    return True


def _write_pid(path: Path) -> None:
    # Best effort: a missing pid only makes a LockTimeout less informative.
    with contextlib.suppress(OSError):
        pid_path(path).write_text(f"{os.getpid()} {socket.gethostname()}\n", encoding="ascii")


def _release(lock: filelock.BaseFileLock, path: Path) -> None:
    # Still held here, so any pid file is ours (or a dead holder's): removing it is safe.
    with contextlib.suppress(OSError):
        pid_path(path).unlink()
    lock.release()
