"""Mutual exclusion per cache key across processes: what lets N workers download once.

The lock is an optimisation, never the safety net: partial downloads have names unique
to their process and call, and files are published by atomic rename after
verification, so a lock that silently does nothing (some NFS and Lustre mounts) costs
duplicate downloads, never a corrupt or half-written file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager


class CacheKeyLock(ABC):
    """``async with lock.hold(cache_key, timeout_s):`` excludes other holders of that key."""

    @abstractmethod
    def hold(self, cache_key: str, timeout_s: float) -> AbstractAsyncContextManager[None]:
        """Wait at most ``timeout_s`` seconds for the key, without blocking the event loop.

        Raises ``LockTimeout`` (naming the lock file and, where known, the holder's pid).
        A holder that dies, even by SIGKILL, must not keep the key locked.
        """


class NoLock(CacheKeyLock):
    """Excludes nothing: the default of a bare ``NetworkStrategy``, and a test double for
    filesystems whose locks are no-ops."""

    def hold(self, cache_key: str, timeout_s: float) -> AbstractAsyncContextManager[None]:
        return _nothing()


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield
