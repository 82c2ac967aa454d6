"""Cache maintenance on a real directory: list, verify against the manifest, prune safely."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from pathlib import Path

import filelock
import pytest

from tokenizer_acquisition.adapters.cache_inventory import CachedTokenizer, CacheInventory
from tokenizer_acquisition.adapters.file_lock import FileKeyLock, pid_path
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
from tokenizer_acquisition.domain.errors import CacheKeyNotFound, InvalidRequest, LockTimeout
from tokenizer_acquisition.domain.manifest import ManifestEntry

COMMIT = "c" * 40


def publish(cache: FileSystemCache, key: str, file: str, data: bytes,
            repo: str = "org/name") -> Path:
    staged = cache.staging_path(key, file, "t")
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_bytes(data)
    entry = ManifestEntry(size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                          commit=COMMIT, revision="main", repo=repo, fetched_at=time.time())
    return cache.publish(key, file, staged, entry)


@pytest.fixture
def cache(tmp_path: Path) -> FileSystemCache:
    cache = FileSystemCache(tmp_path / "cache")
    cache.ensure_writable()
    publish(cache, "org--name", "tokenizer.json", b'{"model": {}}')
    publish(cache, "org--name", "sub/vocab.txt", b"a\nb\n")
    publish(cache, "other", "tokenizer.json", b"{}", repo="org/other")
    return cache


def test_list_reports_files_sizes_repo_commit_and_time(cache: FileSystemCache) -> None:
    """Each key lists its files, total size, repo, commit and fetch time from the manifest."""
    listed = {t.key: t for t in CacheInventory(cache).list()}
    assert set(listed) == {"org--name", "other"}
    minilm = listed["org--name"]
    assert [f.name for f in minilm.files] == ["sub/vocab.txt", "tokenizer.json"]
    assert minilm.size == len(b'{"model": {}}') + len(b"a\nb\n")
    assert minilm.repos == ["org/name"] and minilm.commits == [COMMIT]
    assert minilm.fetched_at is not None and minilm.fetched_at <= time.time()
    assert minilm.to_dict()["files"][0]["present"] is True


def test_list_of_a_missing_cache_is_empty(tmp_path: Path) -> None:
    """A cache directory that does not exist yet holds nothing (and is not created)."""
    inventory = CacheInventory(FileSystemCache(tmp_path / "nowhere"))
    assert inventory.list() == []
    assert not (tmp_path / "nowhere").exists()


def test_hand_placed_key_is_listed_without_origin(cache: FileSystemCache) -> None:
    """A directory placed by hand is a key with files but no repo or commit."""
    (cache.root / "manual").mkdir()
    (cache.root / "manual" / "tokenizer.json").write_text("{}")
    manual = CacheInventory(cache).describe("manual")
    assert [f.name for f in manual.files] == ["tokenizer.json"]
    assert manual.repos == [] and manual.commits == []


def test_verify_passes_an_intact_cache(cache: FileSystemCache) -> None:
    """Every recorded file re-hashes to its manifest sha256."""
    report = CacheInventory(cache).verify()
    assert report.ok and len(report.checks) == 3
    assert {c.status for c in report.checks} == {"ok"}


def test_verify_names_corrupt_and_missing_files(cache: FileSystemCache) -> None:
    """Same-size corruption and a deleted file are both reported, by name."""
    (cache.directory("org--name") / "tokenizer.json").write_bytes(b'{"model": {X}')
    (cache.directory("org--name") / "sub" / "vocab.txt").unlink()
    report = CacheInventory(cache).verify("org--name")
    assert not report.ok
    problems = {(c.file, c.status) for c in report.problems}
    assert problems == {("tokenizer.json", "corrupt"), ("sub/vocab.txt", "missing")}
    assert "sha256" in next(c.detail for c in report.problems if c.status == "corrupt")


def test_verify_reports_unrecorded_files_without_failing(cache: FileSystemCache) -> None:
    """A file the manifest does not know cannot be verified; it is listed, not failed."""
    (cache.directory("other") / "extra.txt").write_text("x")
    report = CacheInventory(cache).verify("other")
    assert report.ok
    assert ("extra.txt", "unrecorded") in {(c.file, c.status) for c in report.checks}


def test_verify_flags_an_unreadable_manifest(cache: FileSystemCache) -> None:
    """A corrupt manifest is a problem, not silently 'nothing recorded'."""
    cache.manifest_path("other").write_text("{not json")
    report = CacheInventory(cache).verify("other")
    assert not report.ok and report.problems[0].file == "(manifest)"


def test_unknown_and_malformed_keys(cache: FileSystemCache) -> None:
    """An unknown key is CacheKeyNotFound (with a close match); a path is InvalidRequest."""
    inventory = CacheInventory(cache)
    with pytest.raises(CacheKeyNotFound) as err:
        inventory.verify("org--nam")
    assert "did you mean 'org--name'?" in err.value.suggestions
    with pytest.raises(InvalidRequest):
        inventory.require("../etc")


def test_prune_key_removes_files_manifest_and_partials(cache: FileSystemCache) -> None:
    """Pruning a key leaves no trace of it, and other keys intact."""
    partial = cache.staging_path("org--name", "big.bin", "t")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"half")
    report = CacheInventory(cache).prune("org--name")
    assert report.keys == ["org--name"] and report.partials == 1 and report.bytes_freed > 0
    assert not cache.directory("org--name").exists()
    assert not cache.manifest_path("org--name").exists()
    assert not partial.exists()
    assert CacheInventory(cache).keys() == ["other"]


def test_prune_partials_keeps_published_files(cache: FileSystemCache) -> None:
    """--partials removes interrupted downloads only."""
    partial = cache.staging_path("other", "big.bin", "t")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"half")
    report = CacheInventory(cache).prune_partials()
    assert report.partials == 1 and report.keys == []
    assert not partial.exists()
    assert CacheInventory(cache).verify().ok


def test_prune_all_empties_the_cache(cache: FileSystemCache) -> None:
    """--all removes every key."""
    report = CacheInventory(cache).prune_all()
    assert sorted(report.keys) == ["org--name", "other"]
    assert CacheInventory(cache).list() == []


def test_prune_waits_for_the_key_lock_then_times_out(cache: FileSystemCache) -> None:
    """A key locked by a download is not deleted; the wait ends in LockTimeout."""
    with filelock.FileLock(str(cache.lock_path("other"))), pytest.raises(LockTimeout):
        CacheInventory(cache, lock_timeout=0.1).prune("other")
    assert cache.directory("other").exists()


def test_prune_timeout_names_the_downloading_process(cache: FileSystemCache) -> None:
    """Prune waiting on a download's lock reports the holder's pid in LockTimeout."""
    lock = FileKeyLock(cache.lock_path)

    async def hold_while_pruning() -> LockTimeout:
        async with lock.hold("other", 5):
            with pytest.raises(LockTimeout) as raised:
                await asyncio.to_thread(CacheInventory(cache, lock_timeout=0.1).prune, "other")
        return raised.value

    error = asyncio.run(hold_while_pruning())
    assert error.holder_pid == os.getpid()
    assert cache.directory("other").exists()


class _PausingInventory(CacheInventory):
    """Blocks inside the key's lock (``describe`` runs under it) until released."""

    def __init__(self, cache: FileSystemCache) -> None:
        super().__init__(cache)
        self.inside, self.go = threading.Event(), threading.Event()

    def describe(self, key: str) -> CachedTokenizer:
        self.inside.set()
        self.go.wait(10)
        return super().describe(key)


def test_a_download_waiting_on_prune_learns_the_pruning_pid(cache: FileSystemCache) -> None:
    """While prune holds a key, a waiter's LockTimeout.holder_pid names the pruner."""
    inventory = _PausingInventory(cache)
    pruning = threading.Thread(target=inventory.prune, args=("other",))
    pruning.start()
    try:
        assert inventory.inside.wait(10)

        async def wait_for_key() -> None:
            async with FileKeyLock(cache.lock_path).hold("other", 0.1):
                pass

        with pytest.raises(LockTimeout) as raised:
            asyncio.run(wait_for_key())
        assert raised.value.holder_pid == os.getpid()
    finally:
        inventory.go.set()
        pruning.join(10)
    assert not cache.directory("other").exists()
    assert not pid_path(cache.lock_path("other")).exists()


def test_prune_removes_partials_where_the_cache_keeps_them(tmp_path: Path) -> None:
    """Prune asks the cache for its partials directory instead of assuming the layout."""

    class ElsewhereCache(FileSystemCache):
        def partials(self, cache_key: str) -> Path:
            return self.bookkeeping / "elsewhere" / cache_key

    cache = ElsewhereCache(tmp_path / "cache")
    publish(cache, "k", "tokenizer.json", b"{}")
    partial = cache.staging_path("k", "big.bin", "t")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"half")
    report = CacheInventory(cache).prune("k")
    assert report.partials == 1 and not partial.exists()
    other = cache.staging_path("j", "big.bin", "t")
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_bytes(b"half")
    assert CacheInventory(cache).prune_partials().partials == 1 and not other.exists()
