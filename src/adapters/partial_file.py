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
import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
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


class Sink:
    """The partial file opened for writing, with sha256 (and git sha1) over all its bytes."""

    def __init__(self, staged: Path, *, append: bool, total: int | None,
                 git_sha1: bool) -> None:
        self.path = staged
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1(git_blob_prefix(total)) if git_sha1 and total is not None \
            else None
        self._wants_sha1 = git_sha1
        self.size = 0
        with cache_write_errors(staged):
            staged.parent.mkdir(parents=True, exist_ok=True)
            if append:
                self._rehash_prefix()
            self._handle: IO[bytes] = open(staged, "ab" if append else "wb")  # noqa: SIM115

    def _rehash_prefix(self) -> None:
        with open(self.path, "rb") as existing:
            while block := existing.read(_READ_BLOCK):
                self._update(block)

    def _update(self, data: bytes | bytearray | memoryview) -> None:
        self._sha256.update(data)
        if self._sha1 is not None:
            self._sha1.update(data)
        self.size += len(data)

    def write(self, data: bytes | bytearray) -> None:
        self._handle.write(data)
        self._update(data)

    def finish(self) -> tuple[str, str | None]:
        """fsync and close; (sha256, git sha1) of the whole file."""
        with cache_write_errors(self.path):
            try:
                self._handle.flush()  # the last buffered bytes: where a full disk shows
                os.fsync(self._handle.fileno())
            finally:
                with contextlib.suppress(OSError):
                    self._handle.close()
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
    """Writes batches to a ``Sink`` off the loop while the caller reads the next batch.

    At most one batch is in flight, so memory stays at two batches. The sink itself is
    opened in a thread too (rehashing a large resumed prefix takes a while), and the
    socket keeps being read meanwhile: a server that sends and then resets must find
    its bytes consumed, not sitting in a buffer.
    """

    def __init__(self, opening: asyncio.Future[Sink]) -> None:
        self._opening = opening
        self._pending: asyncio.Future[None] | None = None

    async def _write(self, data: bytes) -> None:
        sink = await asyncio.shield(self._opening)
        try:
            await asyncio.to_thread(sink.write, data)
        except OSError as exc:
            raise CacheWriteError(sink.path, exc.strerror or str(exc)) from None

    async def drain(self) -> None:
        """Wait for the batch in flight; a cancellation never interrupts a thread's write."""
        pending = self._pending
        if pending is not None:
            await asyncio.shield(pending)
            # Forgotten only once done: a drain cancelled meanwhile leaves the write for
            # abort() to wait on, so the file is never closed under a thread still writing.
            self._pending = None

    async def submit(self, data: bytes) -> None:
        await self.drain()
        self._pending = asyncio.ensure_future(self._write(data))

    async def finish(self) -> tuple[Sink, str, str | None]:
        """Everything written, fsynced and closed: (sink, sha256, git sha1)."""
        await self.drain()
        sink = await asyncio.shield(self._opening)
        sha256, git_sha1 = await asyncio.to_thread(sink.finish)
        return sink, sha256, git_sha1

    async def abort(self) -> None:
        """After a failure: let the thread work end, keep what reached the disk, close."""
        for task in (self._pending, self._opening):
            if task is not None:
                with contextlib.suppress(BaseException):
                    await task
        self._pending = None
        if self._opening.done() and not self._opening.cancelled() \
                and self._opening.exception() is None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self._opening.result().close)
