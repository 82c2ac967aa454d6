"""A partial download on disk: the bytes, the hashes over them, the validator beside them,
and who owns it.

``<staged>`` holds the bytes received so far; ``<staged>.validator.json`` holds what a
later attempt (in this process or another) needs to continue it with ``If-Range``:
the response's strong ETag, the Hub's identity of the content and the file's total
size. Without a sidecar a partial is never appended to.

The sidecar is written before the first byte, whole (temp file + rename) but not
fsynced, and it stays after ``Sink.finish``: a process killed after the fsync but before
publication leaves a complete partial *and* its sidecar, and the next attempt confirms
it with a one-byte ranged request instead of downloading it again (``load``). It goes
away with ``discard`` (called once the partial is published or refused).

Ownership (issue 9, "what is verified is what is served"): exactly one writer appends to
a partial. The writer holds ``flock(LOCK_EX)`` on it from its first byte until
``release``; a fresh partial is created with ``O_CREAT | O_EXCL``; taking over an orphan
(``adopt_into``) needs ``flock(LOCK_EX | LOCK_NB)`` first, and that same descriptor (so
that lock) passes to the adopter. A lock that cannot be taken means a live writer, and
its partial is left alone whatever its age or host. ``Sink.finish`` checks, as a last
guard, that the file holds exactly the bytes this writer accounts for.

Every method that touches the disk is synchronous and runs off the event loop, so large
writes and hashes never stall it: ``BackgroundWriter`` gives each file one thread that
opens its ``Sink``, hashes and writes each read as it arrives, and fsyncs it at the end.
"""

from __future__ import annotations

import _thread
import asyncio
import collections
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any

from ..domain.errors import CacheWriteError, IntegrityError
from ..domain.verification import git_blob_prefix

_READ_BLOCK = 1 << 20
SIDECAR_SUFFIX = ".validator.json"


@dataclass(frozen=True)
class Validator:
    """What makes a partial resumable. ``etag`` is sent as ``If-Range`` (strong ETags only);
    ``total`` is the whole file's size when the server announced it."""

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
        except (ValueError, KeyError, TypeError, RecursionError):
            return None
        if not isinstance(identity, str) or not identity:
            return None
        if etag is not None and not isinstance(etag, str):
            return None
        if total is not None and (not isinstance(total, int) or isinstance(total, bool)
                                  or total < 0):
            return None
        return cls(identity=identity, etag=etag, total=total, url=str(url))


def sidecar_path(staged: Path) -> Path:
    return staged.with_name(staged.name + SIDECAR_SUFFIX)


@contextlib.contextmanager
def cache_write_errors(path: Path) -> Iterator[None]:
    """Disk failures (EACCES, ENOSPC, EFBIG, EROFS) become ``CacheWriteError`` naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise CacheWriteError(path, exc.strerror or str(exc)) from None


# -- ownership ---------------------------------------------------------------------------------

class LockState(Enum):
    TAKEN = "taken"
    BUSY = "busy"  # another open file (this process or another) holds it: a live writer
    UNSUPPORTED = "unsupported"  # ENOLCK / EOPNOTSUPP: the filesystem cannot tell


_UNSUPPORTED = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL})


def try_lock(fd: int) -> LockState:
    """``flock(LOCK_EX | LOCK_NB)``: flock locks belong to an open file, so a second
    ``open`` of the same partial in this very process is refused too."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return LockState.BUSY
        if exc.errno in _UNSUPPORTED:
            return LockState.UNSUPPORTED
        raise
    return LockState.TAKEN


#: Partials owned by downloads of this process: path -> the descriptor holding its flock
#: (None: reserved by ``reserve``, not created yet).
_owned: dict[Path, int | None] = {}
_owned_guard = threading.Lock()
_OPEN_FLAGS = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


def reserve(path: Path) -> bool:
    """Mark ``path`` as owned by a download of this process (``release`` ends it);
    False when it already was."""
    with _owned_guard:
        if path in _owned:
            return False
        _owned[path] = None
        return True


def is_owned(path: Path) -> bool:
    with _owned_guard:
        return path in _owned


def release(path: Path) -> None:
    """End ownership: close the descriptor (dropping the lock); an empty partial of ours,
    never written, is removed rather than left for an adopter."""
    with _owned_guard:
        fd = _owned.pop(path, None)
    if fd is None:
        return
    try:
        if _names(path, fd) and os.fstat(fd).st_size == 0:
            with contextlib.suppress(OSError):
                path.unlink()
                sidecar_path(path).unlink(missing_ok=True)
    finally:
        os.close(fd)


@contextlib.contextmanager
def held(path: Path) -> Iterator[None]:
    """Own ``path`` for a ``with`` block, unless someone (``staging.claim``) already does."""
    mine = reserve(path)
    try:
        yield
    finally:
        if mine:
            release(path)


def adopt_into(orphan: Path, target: Path, *,
               unlocked_ok: Callable[[], bool] = lambda: False) -> bool:
    """Take over ``orphan`` as ``target``: lock it, check it is still that file, rename.

    Refused (False) when another open file holds its lock (a live writer). Where the
    filesystem has no ``flock``, ``unlocked_ok`` decides (the caller's age or pid rules).
    The descriptor holding the lock becomes ``target``'s owner.
    """
    try:
        fd = os.open(orphan, _OPEN_FLAGS)
    except OSError:
        return False
    try:
        state = try_lock(fd)
        if state is LockState.BUSY or (state is LockState.UNSUPPORTED and not unlocked_ok()):
            os.close(fd)
            return False
        if not _names(orphan, fd):  # renamed or replaced between the listing and the lock
            os.close(fd)
            return False
        os.rename(orphan, target)
    except OSError:
        os.close(fd)
        return False
    with _owned_guard:
        previous = _owned.get(target)
        _owned[target] = fd
    if previous is not None:
        os.close(previous)
    return True


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    here = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (here.st_dev, here.st_ino)


def _owner_fd(staged: Path, *, create: bool) -> int | None:
    """The descriptor owning ``staged``, opened (and locked) on first use.

    A registered descriptor whose file no longer sits at ``staged`` (published, discarded)
    is dropped. A file left at ``staged`` by an earlier call is taken only if its lock is
    free; a new one is created with ``O_EXCL``. Returns None when there is no file and
    ``create`` is false. Paths nobody reserved are owned until ``release`` too.
    """
    with _owned_guard:
        fd = _owned.get(staged)
        if fd is not None and not _names(staged, fd):
            os.close(fd)
            fd = _owned[staged] = None
        if fd is not None:
            return fd
        if create:
            try:
                fd = os.open(staged, _OPEN_FLAGS | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                fd = os.open(staged, _OPEN_FLAGS)
        else:
            try:
                fd = os.open(staged, _OPEN_FLAGS)
            except FileNotFoundError:
                return None
        if try_lock(fd) is LockState.BUSY:
            os.close(fd)
            raise CacheWriteError(staged, "the partial download is being written by "
                                          "another download")
        _owned[staged] = fd
        return fd


# -- the partial and its sidecar --------------------------------------------------------------

def load(staged: Path) -> tuple[int, Validator | None]:
    """Bytes already on disk and their validator; a partial without one is discarded.

    A partial as long as the validator's total is complete (its process was killed after
    the fsync, before publication): it is cut to ``total - 1`` bytes so that the next
    request, ``Range: bytes=<total-1>-``, confirms with one byte that it is still the
    file, and the whole is hashed again. A partial longer than its total is discarded.
    """
    with cache_write_errors(staged):
        try:
            validator = Validator.from_json(sidecar_path(staged).read_bytes())
        except OSError:
            validator = None
        fd = _owner_fd(staged, create=False)
        size = 0 if fd is None else os.fstat(fd).st_size
        usable = validator is not None and size > 0 and (
            validator.total is None or size <= validator.total)
        if fd is None or validator is None or not usable:
            reset(staged)
            return 0, None
        if validator.total is not None and size == validator.total:
            size -= 1
            os.ftruncate(fd, size)
            if size == 0:
                reset(staged)
                return 0, None
        return size, validator


def reset(staged: Path) -> None:
    """Start the partial over (zero bytes, no sidecar), keeping its owner's lock."""
    with cache_write_errors(staged):
        sidecar_path(staged).unlink(missing_ok=True)
        with _owned_guard:
            fd = _owned.get(staged)
        if fd is not None and _names(staged, fd):
            os.ftruncate(fd, 0)
        else:
            staged.unlink(missing_ok=True)


def discard(staged: Path) -> None:
    """Forget a partial and its sidecar by name (after publication the name is gone, and
    the sidecar goes); the owner's descriptor is closed by ``release``."""
    with cache_write_errors(staged):
        staged.unlink(missing_ok=True)
        sidecar_path(staged).unlink(missing_ok=True)


def save_validator(staged: Path, validator: Validator | None) -> None:
    """Record (or, with None, forget) how to resume; the sidecar is never half-written.

    Not fsynced: losing it in a power cut costs a re-download, never wrong bytes (every
    published file is verified), and the cold path stays fast.
    """
    target = sidecar_path(staged)
    with cache_write_errors(target):
        if validator is None:
            target.unlink(missing_ok=True)
            return
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(validator.to_json())
        os.replace(tmp, target)


#: After this many unsynced bytes the writer starts an fdatasync in another thread while
#: the download goes on, so the fsync before publication only waits for the tail. (Writeback
#: alone is not enough: on a VM disk the flush itself is what takes the time.)
SYNC_EVERY_BYTES = 4 << 20
#: Reads handed to the writer but not yet hashed and on disk, by count and by bytes; with
#: aiohttp's buffer this bounds the memory a download holds.
MAX_IN_FLIGHT = 64
MAX_BYTES_IN_FLIGHT = 2 << 20


def _datasync(fd: int) -> None:
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


class PartialChanged(IntegrityError):
    """The partial holds other bytes than its writer put there: someone else wrote to it."""

    def __init__(self, path: Path, *, expected: int, actual: int) -> None:
        super().__init__(path.name, expected=f"{expected} bytes written by this download",
                         actual=f"{actual} bytes on disk", check="partial ownership")
        self.suggestions = (
            "another process wrote to the same partial download; the download restarts",
            "if this repeats, the cache directory's filesystem does not honour flock(2)",
        )


def _writable(staged: Path) -> tuple[int, bool]:
    """A descriptor for writing ``staged`` under its owner's lock: a duplicate of the
    owner's (same open file, same lock), or, for a path no download owns (a ``Sink``
    used alone), one this sink opens, locks and closes itself."""
    if is_owned(staged):
        owner = _owner_fd(staged, create=True)
        assert owner is not None  # created when missing
        return os.dup(owner), False
    fd = os.open(staged, _OPEN_FLAGS | os.O_CREAT, 0o666)
    if try_lock(fd) is LockState.BUSY:
        os.close(fd)
        raise CacheWriteError(staged, "the partial download is being written by another "
                                      "download")
    return fd, True


class Sink:
    """The partial file opened for writing, with sha256 (and git sha1) over all its bytes.

    ``digest`` and ``store`` are independent (hash state vs file handle), so two threads
    may run them at once on the same batch; each must see the batches in order.
    ``validator``, when given, is written beside the partial before its first bytes.
    ``prefix``: with ``append``, how many bytes of the partial to keep (default: all).
    ``datasync`` flushes a file descriptor's data for ``sync`` (tests pass a failing one).
    """

    def __init__(self, staged: Path, *, append: bool, total: int | None,
                 git_sha1: bool, validator: Validator | None = None,
                 datasync: Callable[[int], None] = _datasync,
                 prefix: int | None = None) -> None:
        self.path = staged
        self._datasync = datasync
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1(git_blob_prefix(total)) if git_sha1 and total is not None \
            else None
        self._wants_sha1 = git_sha1
        self.size = 0
        with cache_write_errors(staged):
            staged.parent.mkdir(parents=True, exist_ok=True)
            fd, self._own_lock = _writable(staged)
            try:
                if append:
                    end = os.fstat(fd).st_size if prefix is None else prefix
                    os.ftruncate(fd, end)
                    self._rehash_prefix(fd, end)
                else:
                    # A restart from zero: the old validator describes other bytes.
                    sidecar_path(staged).unlink(missing_ok=True)
                    os.ftruncate(fd, 0)
                    end = 0
                if validator is not None:
                    save_validator(staged, validator)
                self._handle: IO[bytes] = open(fd, "r+b")  # noqa: SIM115
            except BaseException:
                os.close(fd)
                raise
            self._handle.seek(end)
        #: Where the next write lands; read on the loop between writes (``written_end``).
        self._end = end
        self._synced = end
        self._sync_error: OSError | None = None

    def _rehash_prefix(self, fd: int, end: int) -> None:
        offset = 0
        while offset < end:
            block = os.pread(fd, min(_READ_BLOCK, end - offset), offset)
            if not block:
                break
            self._update(block)
            offset += len(block)

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
        """Append a batch (``final``: the body is complete with it; kept for callers)."""
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
        """fsync, check, close; (sha256, git sha1) of the whole file. The sidecar stays
        (see the module docstring): ``discard`` removes it after publication.

        Raises ``PartialChanged`` when the file's size is not what this writer wrote.
        """
        try:
            with cache_write_errors(self.path):
                self._handle.flush()  # the last buffered bytes: where a full disk shows
                fd = self._handle.fileno()
                os.fsync(fd)
                if self._sync_error is not None:
                    raise self._sync_error
                on_disk = os.fstat(fd).st_size
                if on_disk != self._end:
                    raise PartialChanged(self.path, expected=self._end, actual=on_disk)
                sha1 = self._sha1.hexdigest() if self._sha1 is not None else None
                if sha1 is None and self._wants_sha1:
                    # The size was not announced up front, so the blob header had to wait.
                    hasher = hashlib.sha1(git_blob_prefix(self.size))
                    offset = 0
                    while block := os.pread(fd, _READ_BLOCK, offset):
                        hasher.update(block)
                        offset += len(block)
                    sha1 = hasher.hexdigest()
        finally:
            self.close()
        return self._sha256.hexdigest(), sha1

    def close(self) -> None:
        """Close (also after a failure, and again: idempotent); written bytes stay for the
        next attempt. Buffered bytes a full disk refuses are dropped, not raised."""
        if self._handle.closed:
            return
        try:
            with contextlib.suppress(OSError, ValueError):
                self._handle.flush()
        finally:
            with contextlib.suppress(OSError):
                self._handle.close()


class BackgroundWriter:
    """Hashes and writes each read as it arrives, in the file's own threads.

    The event loop only receives: ``submit`` queues a read for the file's hasher and its
    writer and returns at once (no future, no executor). The writer thread opens the sink
    (when given a factory), writes each read, starts an fdatasync helper past
    ``sync_every`` unsynced bytes, and at ``finish`` fsyncs and reports back; the hasher
    thread hashes each read as soon as it is queued, while it is still hot in the CPU's
    cache. About two hand-offs with the loop per file instead of two per batch; hashlib
    and file writes release the GIL, so the loop keeps reading meanwhile.

    Reads are hashed and written in order; once a write fails no later read is written
    (no hole in the partial), and the failure is raised by the next ``submit``, ``drain``
    or ``finish``. At most ``max_in_flight`` reads and ``max_bytes`` bytes are queued and
    not yet written; ``submit`` waits beyond that, so memory stays bounded. A cancelled
    wait never interrupts the thread: ``abort`` lets its current write end, then closes.

    ``opening`` is the sink, being opened (a future), or how to open it (a callable run in
    the writer's thread: one hand-off fewer). The socket keeps being read meanwhile: a
    server that sends and then resets must find its bytes consumed, not sitting in a buffer.
    """

    def __init__(self, opening: asyncio.Future[Sink] | Callable[[], Sink], *,
                 max_in_flight: int = MAX_IN_FLIGHT, max_bytes: int = MAX_BYTES_IN_FLIGHT,
                 sync_every: int = SYNC_EVERY_BYTES, separate_hasher: bool = True) -> None:
        self._loop = asyncio.get_running_loop()
        #: False (small files): the writer thread hashes each read itself, one thread fewer.
        self._separate = separate_hasher
        self._max_in_flight = max(1, max_in_flight)
        self._max_bytes = max(1, max_bytes)
        self._sync_every = sync_every
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()  # to the writer
        self._hashes: queue.SimpleQueue[object] = queue.SimpleQueue()  # to the hasher
        self._opened_event = threading.Event()
        self._sizes: collections.deque[int] = collections.deque()
        self._stored = self._hashed = self._settled = 0
        self._guard = threading.Lock()
        self._pending = 0
        self._pending_bytes = 0
        self._failure: BaseException | None = None
        #: The loop's wait for room (or for nothing pending), with its condition.
        self._waiter: tuple[asyncio.Future[None], Callable[[], bool]] | None = None
        self._ended: asyncio.Future[tuple[str, str | None] | None] = self._loop.create_future()
        self._sink: Sink | None = None
        self._closing = False  # the stop or abort marker was queued
        self._started = False
        self._opening: asyncio.Future[Sink] | None = None
        if isinstance(opening, asyncio.Future):
            self._opening = opening
            opening.add_done_callback(self._opened)
        else:
            self._start(opening)

    @property
    def in_flight(self) -> int:
        return self._pending

    # -- the loop's side ------------------------------------------------------------------

    def _opened(self, opening: asyncio.Future[Sink]) -> None:
        error = asyncio.CancelledError() if opening.cancelled() else opening.exception()
        if error is not None:
            self._fail(error)
            self._resolve(None, error)
        else:
            sink = opening.result()
            self._start(lambda: sink)

    def _start(self, open_sink: Callable[[], Sink]) -> None:
        # Not threading.Thread.start(): it blocks the loop until the new thread runs, which
        # on a busy machine costs milliseconds per file. The thread reports back itself.
        self._started = True
        _thread.start_new_thread(self._work, (open_sink,))

    def _resolve(self, result: tuple[str, str | None] | None,
                 error: BaseException | None) -> None:
        if self._ended.done():
            return
        if error is not None:
            self._ended.set_exception(error)
            self._ended.exception()  # retrieved: abort() may be the only one to wait
        else:
            self._ended.set_result(result)

    def _check(self) -> None:
        with self._guard:
            failure = self._failure
        if failure is not None:
            raise failure

    async def _wait_until(self, ready: Callable[[], bool]) -> None:
        """Wait (no thread hop unless needed) until ``ready()`` or a failure."""
        while True:
            with self._guard:
                if self._failure is not None or ready() or self._ended.done():
                    break
                waiter: asyncio.Future[None] = self._loop.create_future()
                self._waiter = (waiter, ready)
            try:
                await waiter
            finally:
                with self._guard:
                    if self._waiter is not None and self._waiter[0] is waiter:
                        self._waiter = None
        self._check()

    def _has_room(self) -> bool:
        return self._pending < self._max_in_flight and self._pending_bytes < self._max_bytes

    def _idle(self) -> bool:
        return self._pending == 0

    async def submit(self, chunks: Sequence[bytes], *, final: bool = False) -> None:
        """Hand over reads (in order); ``final``: the body ends with them."""
        self._check()
        if not self._has_room():
            await self._wait_until(self._has_room)
        if not chunks:
            return
        batch = list(chunks)
        size = sum(map(len, batch))
        with self._guard:
            self._pending += 1
            self._pending_bytes += size
            self._sizes.append(size)
        if self._separate:
            self._hashes.put(batch)
        self._queue.put(batch)

    async def drain(self) -> None:
        """Wait until every read handed over is hashed and written."""
        await self._wait_until(self._idle)

    async def finish(self) -> tuple[Sink, str, str | None]:
        """Everything written, fsynced and closed: (sink, sha256, git sha1)."""
        self._check()
        if not self._closing:
            self._closing = True
            self._queue.put(_FINISH)
        result = await asyncio.shield(self._ended)
        assert result is not None and self._sink is not None
        return self._sink, result[0], result[1]

    async def abort(self) -> None:
        """After a failure: let the thread's current write end, keep what reached the disk,
        close."""
        if self._opening is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._opening)
        if self._started and not self._closing:
            self._closing = True
            self._queue.put(_ABORT)
        if self._started or self._opening is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._ended)

    # -- the writer's thread --------------------------------------------------------------

    def _fail(self, error: BaseException) -> None:
        with self._guard:
            if self._failure is None:
                self._failure = error
        self._wake()

    def _wake(self) -> None:
        """Called with anything that may satisfy the loop's wait (from any thread)."""
        with self._guard:
            if self._waiter is None:
                return
            waiter, ready = self._waiter
            if self._failure is None and not ready():
                return
            self._waiter = None
        self._loop.call_soon_threadsafe(_set_none, waiter)

    def _settle(self, *, stored: int = 0, hashed: int = 0) -> None:
        """A read was written (or hashed): once both are done it leaves the count."""
        with self._guard:
            self._stored += stored
            self._hashed += hashed
            while self._settled < min(self._stored, self._hashed):
                self._pending -= 1
                self._pending_bytes -= self._sizes.popleft()
                self._settled += 1
        self._wake()

    def _hash_work(self) -> None:
        """The hasher: each read, in order, as soon as it is queued (hot in cache)."""
        self._opened_event.wait()
        sink = self._sink
        while True:
            item = self._hashes.get()
            if item is _FINISH or item is _ABORT:
                return
            assert isinstance(item, list)
            if sink is not None and self._failure is None:
                try:
                    sink.digest(item)
                except BaseException as exc:  # a stand-in's failure: the caller's error
                    self._fail(exc)
            self._settle(hashed=1)

    def _work(self, open_sink: Callable[[], Sink]) -> None:
        """The writer: opens the sink, writes each read in order, finishes the file."""
        result: tuple[str, str | None] | None = None
        error: BaseException | None = None
        syncing: threading.Thread | None = None
        sink: Sink | None = None
        hasher = threading.Thread(target=self._hash_work, daemon=True, name="tokacq-hash")
        if self._separate:
            hasher.start()
        try:
            try:
                sink = self._sink = open_sink()
            finally:
                self._opened_event.set()
            while True:
                item = self._queue.get()
                if item is _ABORT:
                    break
                if item is _FINISH:
                    if self._separate:
                        self._hashes.put(_FINISH)  # after every read: they were queued first
                        hasher.join()
                    if syncing is not None:
                        syncing.join()
                        syncing = None
                    if self._failure is None:
                        result = sink.finish()
                    break
                assert isinstance(item, list)
                if self._failure is None:
                    try:
                        if not self._separate:
                            sink.digest(item)
                        sink.store(item)
                    except OSError as exc:
                        self._fail(CacheWriteError(sink.path, exc.strerror or str(exc)))
                    else:
                        if sink.unsynced >= self._sync_every and (
                                syncing is None or not syncing.is_alive()):
                            syncing = threading.Thread(
                                target=sink.sync, args=(self._sync_every,), daemon=True,
                                name="tokacq-fdatasync")
                            syncing.start()
                self._settle(stored=1, hashed=0 if self._separate else 1)
        except BaseException as exc:  # opening or finish failed: the caller's error
            error = exc
            self._fail(exc)
        finally:
            if self._separate:
                self._hashes.put(_ABORT)
                hasher.join()
            if syncing is not None:
                syncing.join()
            if result is None and sink is not None:
                sink.close()
            if error is None and result is None:
                error = self._failure or CacheWriteError(
                    getattr(sink, "path", Path("?")), "the download was abandoned")
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                self._loop.call_soon_threadsafe(self._resolve, result, error)


_FINISH = object()
_ABORT = object()


def _set_none(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
