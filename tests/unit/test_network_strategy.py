"""NetworkStrategy against hand-written fakes of its ports: decisions, not sockets."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.fakes import FakeCache, RecordingFileObserver
from tokenizer_acquisition.domain.cache_policy import Located
from tokenizer_acquisition.domain.errors import (
    IntegrityError,
    OfflineModeError,
    RepositoryNotFound,
    VocabMismatch,
)
from tokenizer_acquisition.domain.network import NetworkStrategy
from tokenizer_acquisition.domain.options import NetworkOptions
from tokenizer_acquisition.domain.request import TokenizerDownloadInfo
from tokenizer_acquisition.domain.verification import git_blob_prefix
from tokenizer_acquisition.ports.remote import Fetched, RemoteFile, RemoteFiles, TransferProgress

VOCAB = b"".join(f"tok{i}\n".encode() for i in range(10))
CONFIG = b'{"model_type": "bert"}'
COMMIT = "c" * 40


@dataclass
class Serve:
    """How the fake remote answers one download call for a file."""

    data: bytes
    etag: str | None = None  # None: the git sha1 of ``data`` (a regular Hub file)
    resumed: bool = False
    error: Exception | None = None


@dataclass
class FakeRemote(RemoteFiles):
    """Writes the planned bytes to the staging path and reports what it measured."""

    plans: dict[str, list[Serve]]
    calls: list[tuple[str, bool]] = field(default_factory=list)
    discarded: list[Path] = field(default_factory=list)
    closed: bool = False
    in_flight: int = 0
    max_in_flight: int = 0
    delay: float = 0.0

    async def download(self, remote: RemoteFile, *, resume: bool = True,
                       progress: TransferProgress | None = None) -> Fetched:
        self.calls.append((remote.file, resume))
        plan = self.plans[remote.file]
        serve = plan.pop(0) if len(plan) > 1 else plan[0]
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if serve.error is not None:
                raise serve.error
        finally:
            self.in_flight -= 1
        progress = progress or TransferProgress()
        progress.started(len(serve.data))
        progress.advanced(len(serve.data))
        remote.staged.parent.mkdir(parents=True, exist_ok=True)
        remote.staged.write_bytes(serve.data)
        sha1 = hashlib.sha1(git_blob_prefix(len(serve.data)) + serve.data).hexdigest()
        return Fetched(path=remote.staged, size=len(serve.data),
                       sha256=hashlib.sha256(serve.data).hexdigest(), git_sha1=sha1,
                       etag=serve.etag or _git_sha1(self.plans[remote.file][-1].data),
                       announced_size=len(serve.data), commit=COMMIT,
                       received=len(serve.data), resumed=serve.resumed)

    def discard(self, staged: Path) -> None:
        self.discarded.append(staged)
        staged.unlink(missing_ok=True)

    async def aclose(self) -> None:
        self.closed = True


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(git_blob_prefix(len(data)) + data).hexdigest()


def _info(files: tuple[str, ...] = ("vocab.txt", "config.json"), **kw: object
          ) -> TokenizerDownloadInfo:
    return TokenizerDownloadInfo("org/model", "model", files, **kw)  # type: ignore[arg-type]


def _strategy(tmp_path: Path, plans: Mapping[str, list[Serve]], **options: object
              ) -> tuple[NetworkStrategy, FakeCache, FakeRemote, RecordingFileObserver]:
    cache = FakeCache(tmp_path)
    remote = FakeRemote({k: list(v) for k, v in plans.items()})
    observer = RecordingFileObserver()
    opts = NetworkOptions(endpoint="https://hub.test", **options)  # type: ignore[arg-type]
    return NetworkStrategy(cache, remote, opts, observer=observer), cache, remote, observer


PLANS = {"vocab.txt": [Serve(VOCAB)], "config.json": [Serve(CONFIG)]}


async def test_offline_is_unavailable_and_never_downloads(tmp_path: Path) -> None:
    """Offline mode: unavailable with the source named, OfflineModeError, no download."""
    strategy, _, remote, _ = _strategy(tmp_path, PLANS, offline_source="HF_HUB_OFFLINE")
    assert not strategy.is_available()
    assert "HF_HUB_OFFLINE" in (strategy.unavailable_reason() or "")
    with pytest.raises(OfflineModeError) as raised:
        await strategy.acquire(_info())
    assert raised.value.source == "HF_HUB_OFFLINE"
    assert remote.calls == []


async def test_complete_cache_hit_makes_no_download(tmp_path: Path) -> None:
    """Every file cached: served from the cache, the remote is never asked."""
    strategy, cache, remote, _ = _strategy(tmp_path, PLANS)
    cache.seed("model", {"vocab.txt": VOCAB, "config.json": CONFIG})
    result = await strategy.acquire(_info(expected_vocab=10))
    assert result.from_cache and result.strategy == "network"
    assert remote.calls == []
    assert cache.published == [] and cache.stored == []  # a hit writes nothing


async def test_miss_downloads_verifies_and_publishes(tmp_path: Path) -> None:
    """A miss fetches each file, publishes it with a full manifest entry, reports bytes."""
    strategy, cache, remote, _ = _strategy(tmp_path, PLANS)
    result = await strategy.acquire(_info(expected_vocab=10))
    assert not result.from_cache
    assert result.bytes_downloaded == len(VOCAB) + len(CONFIG)
    assert result.commit == COMMIT
    assert result.path.name == "vocab.txt"
    # One set published at once, of the commit the server named, holding both files.
    [published] = cache.published
    assert sorted(published.files) == ["config.json", "vocab.txt"]
    assert (published.cache_key, published.repo, published.revision, published.commit) == (
        "model", "org/model", "main", COMMIT)
    assert result.directory == cache.current["model"][0]
    assert result.path == result.directory / "vocab.txt"
    assert result.path.read_bytes() == VOCAB
    assert result.files["config.json"].read_bytes() == CONFIG
    entry = published.files["vocab.txt"]
    assert entry.size == len(VOCAB)
    assert entry.sha256 == hashlib.sha256(VOCAB).hexdigest()
    assert entry.etag == _git_sha1(VOCAB)
    assert (entry.commit, entry.revision, entry.repo) == (COMMIT, "main", "org/model")
    assert entry.source == "https://hub.test/org/model/resolve/main/vocab.txt"
    assert entry.fetched_at is not None
    assert sorted(remote.calls) == [("config.json", True), ("vocab.txt", True)]


async def test_only_missing_files_are_downloaded(tmp_path: Path) -> None:
    """Files already cached are kept; only the missing one is fetched."""
    strategy, cache, remote, _ = _strategy(tmp_path, PLANS)
    cache.seed("model", {"vocab.txt": VOCAB})
    result = await strategy.acquire(_info())
    assert remote.calls == [("config.json", True)]
    assert result.bytes_downloaded == len(CONFIG)
    # The missing file is fetched at the cached set's commit, and one new set holds both.
    assert result.commit == COMMIT
    [published] = cache.published
    assert sorted(published.files) == ["config.json", "vocab.txt"]
    assert published.files["config.json"].source == (
        f"https://hub.test/org/model/resolve/{COMMIT}/config.json")
    assert cache.content("model", "vocab.txt") == VOCAB
    assert cache.content("model", "config.json") == CONFIG


async def test_corrupt_file_raises_and_publishes_nothing(tmp_path: Path) -> None:
    """Bytes that do not match the ETag's hash: IntegrityError, nothing published."""
    plans = {"vocab.txt": [Serve(b"corrupt", etag=_git_sha1(VOCAB))]}
    strategy, cache, remote, _ = _strategy(tmp_path, plans)
    with pytest.raises(IntegrityError) as raised:
        await strategy.acquire(_info(("vocab.txt",)))
    assert raised.value.check in ("size", "git-sha1")
    assert cache.published == []
    assert len(remote.discarded) == 1


async def test_sha256_etag_is_checked_for_lfs_files(tmp_path: Path) -> None:
    """A 64-hex ETag is the sha256 the bytes must have."""
    wrong = "0" * 64
    strategy, cache, _, _ = _strategy(tmp_path, {"vocab.txt": [Serve(VOCAB, etag=wrong)]})
    with pytest.raises(IntegrityError) as raised:
        await strategy.acquire(_info(("vocab.txt",)))
    assert raised.value.check == "sha256"
    assert cache.published == []


async def test_opaque_etag_checks_size_only(tmp_path: Path) -> None:
    """An ETag that is no hash never fails a download of the announced size."""
    strategy, cache, _, _ = _strategy(tmp_path, {"vocab.txt": [Serve(VOCAB, etag="opaque-1")]})
    await strategy.acquire(_info(("vocab.txt",)))
    assert [sorted(s.files) for s in cache.published] == [["vocab.txt"]]


async def test_resumed_file_failing_is_downloaded_once_from_zero(tmp_path: Path) -> None:
    """A resumed file that fails verification gets one fresh download, then succeeds."""
    plans = {"vocab.txt": [Serve(b"x" * len(VOCAB), etag=_git_sha1(VOCAB), resumed=True),
                           Serve(VOCAB)]}
    strategy, cache, remote, _ = _strategy(tmp_path, plans)
    result = await strategy.acquire(_info(("vocab.txt",)))
    assert remote.calls == [("vocab.txt", True), ("vocab.txt", False)]
    assert cache.content("model", "vocab.txt") == VOCAB
    assert result.bytes_downloaded == 2 * len(VOCAB)


async def test_fresh_download_failing_again_raises(tmp_path: Path) -> None:
    """If the fresh download fails too, IntegrityError and nothing published."""
    bad = Serve(b"x" * len(VOCAB), etag=_git_sha1(VOCAB), resumed=True)
    plans = {"vocab.txt": [bad, Serve(b"y" * len(VOCAB), etag=_git_sha1(VOCAB))]}
    strategy, cache, remote, _ = _strategy(tmp_path, plans)
    with pytest.raises(IntegrityError):
        await strategy.acquire(_info(("vocab.txt",)))
    assert len(remote.calls) == 2 and cache.published == []


async def test_sha256_pin_is_enforced(tmp_path: Path) -> None:
    """The caller's sha256 pin must match even when the server's ETag agrees."""
    strategy, cache, _, _ = _strategy(tmp_path, PLANS)
    with pytest.raises(IntegrityError) as raised:
        await strategy.acquire(_info(("vocab.txt",), sha256={"vocab.txt": "1" * 64}))
    assert raised.value.check == "sha256 pin"
    assert cache.published == []


async def test_downloads_are_bounded_by_max_concurrent_files(tmp_path: Path) -> None:
    """No more than max_concurrent_files downloads run at once, but they do overlap."""
    files = tuple(f"f{i}.json" for i in range(6))
    plans = {name: [Serve(CONFIG)] for name in files}
    strategy, _, remote, _ = _strategy(tmp_path, plans, max_concurrent_files=2)
    remote.delay = 0.01
    await strategy.acquire(_info(files))
    assert remote.max_in_flight == 2


async def test_first_failure_is_raised_typed(tmp_path: Path) -> None:
    """A typed error from one file is the acquisition's error; nothing else published."""
    failure = RepositoryNotFound("repository 'org/model' not found", url="u", status=401)
    plans = {"vocab.txt": [Serve(VOCAB, error=failure)], "config.json": [Serve(CONFIG)]}
    strategy, cache, _, _ = _strategy(tmp_path, plans, max_concurrent_files=1)
    with pytest.raises(RepositoryNotFound):
        await strategy.acquire(_info())
    assert cache.published == []  # sets are published whole: no file of a failed set


async def test_observer_sees_each_file(tmp_path: Path) -> None:
    """file_started (with total), file_advanced and file_finished reach the observer."""
    strategy, _, _, observer = _strategy(tmp_path, {"vocab.txt": [Serve(VOCAB)]})
    await strategy.acquire(_info(("vocab.txt",)))
    assert observer.events == [("started", "vocab.txt", len(VOCAB)),
                               ("advanced", "vocab.txt", len(VOCAB)),
                               ("finished", "vocab.txt", None)]


async def test_vocab_is_checked_after_download(tmp_path: Path) -> None:
    """expected_vocab applies to freshly downloaded files too."""
    strategy, _, _, _ = _strategy(tmp_path, PLANS)
    with pytest.raises(VocabMismatch):
        await strategy.acquire(_info(expected_vocab=11))


async def test_download_missing_rechecks_the_cache(tmp_path: Path) -> None:
    """The coordination seam re-reads the cache: files published meanwhile are not fetched."""
    strategy, cache, remote, _ = _strategy(tmp_path, PLANS)
    cache.seed("model", {"vocab.txt": VOCAB, "config.json": CONFIG})
    report = await strategy.download_missing(_info())
    assert report.files == () and remote.calls == []


async def test_aclose_closes_the_transport(tmp_path: Path) -> None:
    """Closing the strategy closes its remote."""
    strategy, _, remote, _ = _strategy(tmp_path, PLANS)
    await strategy.aclose()
    assert remote.closed


class CountingCache(FakeCache):
    """Counts lookups and writability checks, and the threads reservations run on."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.locates = 0
        self.writable_threads: list[int] = []
        self.reserve_threads: list[int] = []
        self.reserved: list[Path] = []
        self.released: list[Path] = []

    def locate(self, info: TokenizerDownloadInfo) -> Located:
        self.locates += 1
        return super().locate(info)

    def ensure_writable(self) -> None:
        self.writable_threads.append(threading.get_ident())

    def reserve_staging(self, cache_key: str, file: str, tag: str) -> Path:
        self.reserve_threads.append(threading.get_ident())
        staged = super().reserve_staging(cache_key, file, tag)
        self.reserved.append(staged)
        return staged

    def release_staging(self, staged: Path) -> None:
        self.released.append(staged)


def _counting(tmp_path: Path, plans: Mapping[str, list[Serve]]
              ) -> tuple[NetworkStrategy, CountingCache, FakeRemote]:
    cache = CountingCache(tmp_path)
    remote = FakeRemote({k: list(v) for k, v in plans.items()})
    opts = NetworkOptions(endpoint="https://hub.test")
    return NetworkStrategy(cache, remote, opts), cache, remote


async def test_cache_hit_looks_the_cache_up_once(tmp_path: Path) -> None:
    """A hit is one lookup: no second locate before serving the files."""
    strategy, cache, remote = _counting(tmp_path, PLANS)
    cache.seed("model", {"vocab.txt": VOCAB, "config.json": CONFIG})
    result = await strategy.acquire(_info(expected_vocab=10))
    assert result.from_cache and result.strategy == "network"
    assert cache.locates == 1 and remote.calls == []


async def test_miss_checks_writability_once_off_the_loop(tmp_path: Path) -> None:
    """A miss checks the cache is writable exactly once, in a worker thread."""
    strategy, cache, _ = _counting(tmp_path, PLANS)
    await strategy.acquire(_info())
    assert len(cache.writable_threads) == 1
    assert cache.writable_threads[0] != threading.get_ident()


async def test_partials_are_reserved_off_the_loop_and_released(tmp_path: Path) -> None:
    """Each file's partial is reserved in a worker thread and released once, after use."""
    strategy, cache, _ = _counting(tmp_path, PLANS)
    await strategy.acquire(_info())
    assert len(cache.reserve_threads) == 2
    assert threading.get_ident() not in cache.reserve_threads
    assert sorted(cache.released) == sorted(cache.reserved)


async def test_failed_download_releases_its_partial(tmp_path: Path) -> None:
    """A download that fails still releases its reservation (the partial stays adoptable)."""
    failure = RepositoryNotFound("repository 'org/model' not found", url="u", status=401)
    strategy, cache, _ = _counting(tmp_path, {"vocab.txt": [Serve(VOCAB, error=failure)]})
    with pytest.raises(RepositoryNotFound):
        await strategy.acquire(_info(("vocab.txt",)))
    assert cache.reserved and cache.released == cache.reserved


async def test_reservation_finishing_after_cancellation_is_released(tmp_path: Path) -> None:
    """Cancelled while the reserving thread runs: the reservation it makes is released."""
    strategy, cache, _ = _counting(tmp_path, PLANS)
    entered, gate = threading.Event(), threading.Event()
    reserve = cache.reserve_staging

    def slow_reserve(cache_key: str, file: str, tag: str) -> Path:
        entered.set()
        gate.wait(5)
        return reserve(cache_key, file, tag)

    cache.reserve_staging = slow_reserve  # type: ignore[method-assign]
    task = asyncio.create_task(strategy.acquire(_info(("vocab.txt",))))
    assert await asyncio.to_thread(entered.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.set()
    for _ in range(500):
        if cache.released:
            break
        await asyncio.sleep(0.01)
    assert cache.reserved and cache.released == cache.reserved
