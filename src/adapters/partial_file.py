"""A partial download on disk: the bytes, the hashes over them, and the validator beside them.

``<staged>`` holds the bytes received so far; ``<staged>.validator.json`` holds what a
later attempt (in this process or another) needs to continue it with ``If-Range``:
the final response's strong ETag and the Hub's identity of the content. Without a
sidecar a partial is never appended to.

Every method that touches the disk is synchronous and runs in a worker thread
(``asyncio.to_thread``) so large writes and hashes never stall the event loop;
``BackgroundWriter`` overlaps them with reading the next batch from the socket.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

from ..domain.errors import CacheWriteError
from ..domain.verification import git_blob_prefix
from .filesystem_cache import write_atomically

_READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class Validator:
    """What makes a partial resumable. ``etag`` is sent as ``If-Range`` (strong ETags only)."""

    identity: str
    etag: str | None
    total: int | None
    url: str

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Validator | None:
        try:
            raw: Any = json.loads(data)
            identity = raw["identity"]
            etag, total, url = raw.get("etag"), raw.get("total"), raw.get("url", "")
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(identity, str) or not identity:
            return None
        if etag is not None and not isinstance(etag, str):
            return None
        if total is not None and (not isinstance(total, int) or isinstance(total, bool)):
            return None
        return cls(identity=identity, etag=etag, total=total, url=str(url))


def sidecar_path(staged: Path) -> Path:
    return staged.with_name(staged.name + ".validator.json")


def load(staged: Path) -> tuple[int, Validator | None]:
    """Bytes already on disk and their validator; a partial without one is discarded."""
    try:
        validator = Validator.from_json(sidecar_path(staged).read_bytes())
    except OSError:
        validator = None
    try:
        size = staged.stat().st_size
    except OSError:
        size = 0
    if validator is None or size == 0:
        discard(staged)
        return 0, None
    return size, validator


@contextlib.contextmanager
def cache_write_errors(path: Path) -> Iterator[None]:
    """Disk failures (EACCES, ENOSPC, EFBIG, EROFS) become ``CacheWriteError`` naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise CacheWriteError(path, exc.strerror or str(exc)) from None


def discard(staged: Path) -> None:
    with cache_write_errors(staged):
        staged.unlink(missing_ok=True)
        sidecar_path(staged).unlink(missing_ok=True)


def save_validator(staged: Path, validator: Validator | None) -> None:
    """Record (or, with None, forget) how to resume; the sidecar is never half-written."""
    with cache_write_errors(sidecar_path(staged)):
        if validator is None:
            sidecar_path(staged).unlink(missing_ok=True)
        else:
            write_atomically(sidecar_path(staged), validator.to_json())


#: After this many unsynced bytes the writer starts an fdatasync in another thread while
#: the download goes on, so the fsync before publication only waits for the tail. (Writeback
#: alone is not enough: on a VM disk the flush itself is what takes the time.)
SYNC_EVERY_BYTES = 4 << 20
#: Batches handed to the writer but not yet both hashed and on disk; with the reader's
#: batch and aiohttp's buffer this bounds the memory a download holds.
MAX_IN_FLIGHT = 4


def _datasync(fd: int) -> None:
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


class Sink:
    """The partial file opened for writing, with sha256 (and git sha1) over all its bytes.

    ``digest`` and ``store`` are independent (hash state vs file handle), so two threads
    may run them at once on the same batch; each must see the batches in order.
    ``validator``, when given, is written beside the partial before its first bytes, and
    never for a body that arrives whole in its final batch (nothing to resume then).
    ``datasync`` flushes a file descriptor's data for ``sync`` (tests pass a failing one).
    """

    def __init__(self, staged: Path, *, append: bool, total: int | None,
                 git_sha1: bool, validator: Validator | None = None,
                 datasync: Callable[[int], None] = _datasync) -> None:
        self.path = staged
        self._datasync = datasync
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1(git_blob_prefix(total)) if git_sha1 and total is not None \
            else None
        self._wants_sha1 = git_sha1
        self.size = 0
        self._validator = validator
        self._has_sidecar = append
        with cache_write_errors(staged):
            staged.parent.mkdir(parents=True, exist_ok=True)
            if append:
                self._rehash_prefix()
            else:
                # A restart from zero: the old validator describes other bytes.
                sidecar_path(staged).unlink(missing_ok=True)
            self._handle: IO[bytes] = open(staged, "ab" if append else "wb")  # noqa: SIM115
        #: Where the next write lands; read on the loop between writes (``written_end``).
        self._end = self._handle.tell()
        self._synced = self._end if append else 0
        self._sync_error: OSError | None = None

    def _rehash_prefix(self) -> None:
        with open(self.path, "rb") as existing:
            while block := existing.read(_READ_BLOCK):
                self._update(block)

    def _update(self, data: bytes | bytearray | memoryview) -> None:
        self._sha256.update(data)
        if self._sha1 is not None:
            self._sha1.update(data)
        self.size += len(data)

    def digest(self, chunks: Sequence[bytes]) -> None:
        """Hash a batch (hashlib releases the GIL, so this overlaps ``store``)."""
        for chunk in chunks:
            self._update(chunk)

    @property
    def unsynced(self) -> int:
        """Bytes written since the last fdatasync started (the prefix of a resume counts as
        synced: it was there before)."""
        return self._end - self._synced

    def store(self, chunks: Sequence[bytes], *, final: bool = False) -> None:
        """Append a batch.

        ``final``: the body is complete with this batch, so a sidecar not yet written is
        not needed (a partial without one is simply discarded by a later attempt).
        """
        if self._validator is not None and not final:
            save_validator(self.path, self._validator)
            self._has_sidecar = True
        self._validator = None
        for chunk in chunks:
            self._handle.write(chunk)
            self._end += len(chunk)

    def sync(self, every: int) -> None:
        """fdatasync, beside ``store`` (another thread, same file), until less than ``every``
        bytes are left unsynced: the disk keeps working while the download goes on.

        Only shortens ``finish``; a failure is kept for ``finish`` to raise, because the
        kernel reports a writeback error to a file only once.
        """
        while self._sync_error is None and self._end - self._synced >= every:
            end = self._end  # written by the store thread; what the next fdatasync covers
            try:
                self._datasync(self._handle.fileno())
            except OSError as exc:
                self._sync_error = exc
            self._synced = end

    def finish(self) -> tuple[str, str | None]:
        """fsync and close, and forget the sidecar; (sha256, git sha1) of the whole file."""
        with cache_write_errors(self.path):
            try:
                self._handle.flush()  # the last buffered bytes: where a full disk shows
                os.fsync(self._handle.fileno())
                if self._sync_error is not None:
                    raise self._sync_error
            finally:
                with contextlib.suppress(OSError):
                    self._handle.close()
            if self._has_sidecar:
                sidecar_path(self.path).unlink(missing_ok=True)
        sha1 = self._sha1.hexdigest() if self._sha1 is not None else None
        if sha1 is None and self._wants_sha1:
            # The size was not announced up front, so the blob header had to wait.
            hasher = hashlib.sha1(git_blob_prefix(self.size))
            with open(self.path, "rb") as written:
                while block := written.read(_READ_BLOCK):
                    hasher.update(block)
            sha1 = hasher.hexdigest()
        return self._sha256.hexdigest(), sha1

    def close(self) -> None:
        """Close after a failure; the bytes stay for the next attempt."""
        try:
            self._handle.flush()
        finally:
            self._handle.close()


class BackgroundWriter:
    """Hashes and writes batches off the loop while the caller reads the next ones.

    Each batch goes to two threads at once: one hashes it, one writes it (hashlib and
    file writes release the GIL). Hashes run in batch order, and so do writes: a write
    starts only once the previous one succeeded, so a failed write is never followed by
    a later batch (no hole in the partial). At most ``max_in_flight`` batches are not
    yet both hashed and written; ``submit`` waits beyond that, so memory stays bounded.

    The sink itself is opened in a thread too (rehashing a large resumed prefix takes a
    while), and the socket keeps being read meanwhile: a server that sends and then
    resets must find its bytes consumed, not sitting in a buffer.
    """

    def __init__(self, opening: asyncio.Future[Sink], *,
                 max_in_flight: int = MAX_IN_FLIGHT,
                 sync_every: int = SYNC_EVERY_BYTES) -> None:
        self._opening = opening
        self._max_in_flight = max(1, max_in_flight)
        #: (hash task, write task) per batch, oldest first; forgotten only once both are done.
        self._batches: collections.deque[tuple[asyncio.Future[None], asyncio.Future[None]]] \
            = collections.deque()
        self._last: tuple[asyncio.Future[None], asyncio.Future[None]] | None = None
        self._syncing: asyncio.Future[None] | None = None
        self._sync_every = sync_every

    @property
    def in_flight(self) -> int:
        return len(self._batches)

    async def _run(self, previous: asyncio.Future[None] | None,
                   work: Callable[[Sink], Callable[[], None]], *, stores: bool) -> None:
        sink = await asyncio.shield(self._opening)
        if previous is not None:
            await asyncio.shield(previous)  # its failure is ours: nothing after a failed write
        try:
            await asyncio.to_thread(work(sink))
        except OSError as exc:
            raise CacheWriteError(sink.path, exc.strerror or str(exc)) from None
        if stores:
            self._maybe_sync(sink)

    def _maybe_sync(self, sink: Sink) -> None:
        """Past ``sync_every`` unsynced bytes, start the sink's sync loop in a thread."""
        if self._syncing is not None and not self._syncing.done():
            return  # the running loop picks the new bytes up
        if sink.unsynced >= self._sync_every:
            self._syncing = asyncio.ensure_future(asyncio.to_thread(sink.sync, self._sync_every))

    async def _settle_sync(self) -> None:
        if self._syncing is not None:
            await asyncio.shield(self._syncing)

    async def _settle_oldest(self) -> None:
        """Wait for the oldest batch; a cancellation never interrupts a thread's work."""
        hashing, storing = self._batches[0]
        for task in (hashing, storing):
            await asyncio.shield(task)
        # Forgotten only once done: a wait cancelled meanwhile leaves the batch for
        # abort() to wait on, so the file is never closed under a thread still writing.
        self._batches.popleft()

    async def drain(self) -> None:
        """Wait for every batch in flight."""
        while self._batches:
            await self._settle_oldest()

    async def submit(self, chunks: Sequence[bytes], *, final: bool = False) -> None:
        """Hand over a batch (its bytes in order); ``final``: the body ends with it."""
        while len(self._batches) >= self._max_in_flight:
            await self._settle_oldest()
        batch = list(chunks)
        if not batch:
            return
        previous = self._last
        hashing = asyncio.ensure_future(self._run(
            previous[0] if previous else None, lambda sink: partial(sink.digest, batch),
            stores=False))
        storing = asyncio.ensure_future(self._run(
            previous[1] if previous else None,
            lambda sink: partial(sink.store, batch, final=final), stores=True))
        self._last = (hashing, storing)
        self._batches.append(self._last)

    async def finish(self) -> tuple[Sink, str, str | None]:
        """Everything written, fsynced and closed: (sink, sha256, git sha1)."""
        await self.drain()
        await self._settle_sync()
        sink = await asyncio.shield(self._opening)
        sha256, git_sha1 = await asyncio.to_thread(sink.finish)
        return sink, sha256, git_sha1

    async def abort(self) -> None:
        """After a failure: let the thread work end, keep what reached the disk, close."""
        tasks: list[asyncio.Future[Any]] = [t for pair in self._batches for t in pair]
        if self._syncing is not None:
            tasks.append(self._syncing)
        for task in (*tasks, self._opening):
            with contextlib.suppress(BaseException):
                await task
        self._batches.clear()
        self._last = None
        if self._opening.done() and not self._opening.cancelled() \
                and self._opening.exception() is None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self._opening.result().close)
