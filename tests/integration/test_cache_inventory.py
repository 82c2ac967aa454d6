"""Cache maintenance on a real directory: list, verify against the manifest, prune only
what the tool manages (the blobs/snapshots layout of ``adapters/filesystem_cache.py``)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from pathlib import Path

import filelock
import pytest

from tokenizer_acquisition.adapters.cache_inventory import CacheInventory
from tokenizer_acquisition.adapters.file_lock import FileKeyLock, pid_path
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
from tokenizer_acquisition.domain.cache_policy import Located
from tokenizer_acquisition.domain.errors import (
    CacheKeyNotFound,
    CacheWriteError,
    ConfigurationError,
    InvalidRequest,
    LockTimeout,
)
from tokenizer_acquisition.domain.manifest import ManifestEntry, Snapshot

COMMIT = "c" * 40
COMMIT2 = "d" * 40


def publish(cache: FileSystemCache, key: str, files: dict[str, bytes], *,
            repo: str = "org/name", commit: str = COMMIT) -> Located:
    """Store and publish a set the way a download does."""
    cache.ensure_writable()
    entries = {}
    for name, data in files.items():
        staged = cache.staging_path(key, name, "t")
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        if cache.existing_blob(digest) is None:
            cache.store_blob(staged, digest)
        else:  # shared with another snapshot, as a pinned or carried file is
            staged.unlink()
        entries[name] = ManifestEntry(size=len(data), sha256=digest, commit=commit,
                                      revision="main", repo=repo, fetched_at=time.time())
    return cache.publish(Snapshot(key, repo, "main", commit, entries, created_at=time.time()))


def manifest_of(cache: FileSystemCache, key: str) -> Path:
    state = cache.state(key)
    return state.directory.with_name(f"{state.sid}.json")


def everything(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
def cache(tmp_path: Path) -> FileSystemCache:
    cache = FileSystemCache(tmp_path / "cache")
    publish(cache, "org--name", {"tokenizer.json": b'{"model": {}}', "sub/vocab.txt": b"a\nb\n"})
    publish(cache, "other", {"tokenizer.json": b"{}"}, repo="org/other")
    return cache


# -- list ---------------------------------------------------------------------------------------

def test_list_reports_kind_origin_files_and_times(cache: FileSystemCache) -> None:
    """A managed key lists repo, revision, commit, each file's size and sha256, and times."""
    listed = {t.key: t for t in CacheInventory(cache).list()}
    assert set(listed) == {"org--name", "other"}
    name = listed["org--name"]
    assert name.managed and name.kind == "managed" and name.problems == ()
    assert (name.repo, name.revision, name.commit) == ("org/name", "main", COMMIT)
    assert [f.name for f in name.files] == ["sub/vocab.txt", "tokenizer.json"]
    assert name.size == len(b'{"model": {}}') + len(b"a\nb\n")
    doc = name.to_dict()
    assert doc["files"][1]["sha256"] == hashlib.sha256(b'{"model": {}}').hexdigest()
    assert doc["files"][1]["size"] == doc["files"][1]["recorded_size"] == 13
    assert name.created_at is not None and name.fetched_at is not None
    assert name.fetched_at <= time.time()


def test_list_of_a_missing_cache_is_empty(tmp_path: Path) -> None:
    """A cache directory that does not exist yet holds nothing (and is not created)."""
    inventory = CacheInventory(FileSystemCache(tmp_path / "nowhere"))
    assert inventory.list() == [] and inventory.verify().ok
    assert inventory.prune_all().keys == [] and inventory.prune_partials().paths == []
    assert not (tmp_path / "nowhere").exists()


def test_a_cache_dir_that_is_a_file_is_a_cache_write_error(tmp_path: Path) -> None:
    """Issue 10 item 20: a regular file is not an empty cache; every command says so."""
    blocker = tmp_path / "file"
    blocker.write_text("not a cache")
    inventory = CacheInventory(FileSystemCache(blocker))
    for action in (inventory.list, inventory.verify, inventory.prune_all,
                   inventory.prune_partials, lambda: inventory.prune("k")):
        with pytest.raises(CacheWriteError) as raised:
            action()
        assert raised.value.path == blocker and "not a directory" in raised.value.reason
    assert blocker.read_text() == "not a cache"


def test_hand_placed_and_leftover_keys_are_listed_by_kind(cache: FileSystemCache) -> None:
    """A real directory is 'unmanaged'; bookkeeping without a link is 'leftover'; a
    directory whose name is no cache key is not a key at all."""
    (cache.root / "manual").mkdir()
    (cache.root / "manual" / "tokenizer.json").write_text("{}")
    (cache.root / "My Photos").mkdir()
    (cache.root / "notes.txt").write_text("x")
    partial = cache.partials("interrupted") / "x.tokacq-partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half")
    inventory = CacheInventory(cache)
    assert inventory.keys() == ["interrupted", "manual", "org--name", "other"]
    manual = inventory.describe("manual")
    assert manual.kind == "unmanaged" and not manual.managed
    assert [f.name for f in manual.files] == ["tokenizer.json"] and manual.repo is None
    leftover = inventory.describe("interrupted")
    assert leftover.kind == "leftover" and leftover.files == () and leftover.problems


HOSTILE = {
    "deep": b"[" * 200_000 + b"]" * 200_000,
    "fetched_at_words": None,
    "fetched_at_nan": None,
    "integer_commit": None,
    "truncated": None,
    "not_json": b"\xff\xfe garbage",
    "empty": b"",
}


def _hostile(kind: str, good: bytes) -> bytes:
    import json
    if HOSTILE[kind] is not None:
        return HOSTILE[kind]  # type: ignore[return-value]
    doc = json.loads(good)
    entry = next(iter(doc["files"].values()))
    if kind == "fetched_at_words":
        entry["fetched_at"] = "yesterday"
    elif kind == "fetched_at_nan":
        return good.replace(b'"fetched_at": ', b'"fetched_at": NaN, "x": ', 1)
    elif kind == "integer_commit":
        doc["commit"] = 12345
    elif kind == "truncated":
        return good[: len(good) // 2]
    return json.dumps(doc).encode()


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_manifest_is_a_problem_of_its_key(cache: FileSystemCache, kind: str) -> None:
    """Issue 10 items 3 and 5: nesting, wrong types, NaN, truncation: the key is listed
    with a problem, verify fails on '(manifest)', nothing raises."""
    manifest = manifest_of(cache, "other")
    manifest.write_bytes(_hostile(kind, manifest.read_bytes()))
    inventory = CacheInventory(cache)
    other = {t.key: t for t in inventory.list()}["other"]
    assert other.managed and other.problems and other.repo is None
    assert [f.name for f in other.files] == ["tokenizer.json"]
    report = inventory.verify("other")
    assert not report.ok
    assert [(c.file, c.status) for c in report.problems] == [("(manifest)", "corrupt")]
    assert inventory.verify("org--name").ok


# -- verify -------------------------------------------------------------------------------------

def test_verify_passes_an_intact_cache(cache: FileSystemCache) -> None:
    """Every file of every current snapshot re-hashes to its manifest sha256."""
    report = CacheInventory(cache).verify()
    assert report.ok and len(report.checks) == 3
    assert {c.status for c in report.checks} == {"ok"}


def test_verify_names_corrupt_and_missing_files(cache: FileSystemCache) -> None:
    """Same-size corruption (even keeping the stamp's size) and a deleted file are named."""
    directory = cache.state("org--name").directory
    (directory / "tokenizer.json").write_bytes(b'{"model": {X}')
    (directory / "sub" / "vocab.txt").unlink()
    report = CacheInventory(cache).verify("org--name")
    assert not report.ok
    problems = {(c.file, c.status) for c in report.problems}
    assert problems == {("tokenizer.json", "corrupt"), ("sub/vocab.txt", "missing")}
    assert "sha256" in next(c.detail for c in report.problems if c.status == "corrupt")


def test_verify_reports_unverified_files_without_failing(cache: FileSystemCache) -> None:
    """A file no manifest records (in a snapshot, or placed by hand) is listed, not failed."""
    (cache.state("other").directory / "extra.txt").write_text("x")
    (cache.root / "manual").mkdir()
    (cache.root / "manual" / "tokenizer.json").write_text("{}")
    report = CacheInventory(cache).verify()
    assert report.ok
    statuses = {(c.key, c.file, c.status) for c in report.checks}
    assert ("other", "extra.txt", "unverified") in statuses
    assert ("manual", "tokenizer.json", "unverified") in statuses
    assert len(report.unverified) == 2


def test_verify_never_leaves_the_snapshot_for_a_hostile_file_name(
        cache: FileSystemCache, tmp_path: Path) -> None:
    """A manifest naming '../../x' is corrupt; nothing outside the snapshot is read."""
    import json
    manifest = manifest_of(cache, "other")
    doc = json.loads(manifest.read_bytes())
    doc["files"]["../../../../outside"] = doc["files"]["tokenizer.json"]
    manifest.write_text(json.dumps(doc))
    (tmp_path / "outside").write_text("{}")
    report = CacheInventory(cache).verify("other")
    # The whole manifest is corrupt (its names are paths the cache links and serves).
    assert [(c.file, c.status) for c in report.problems] == [("(manifest)", "corrupt")]
    assert "'../../../../outside' is not a file name" in report.problems[0].detail


def test_verify_of_a_dangling_link_reports_missing_files(cache: FileSystemCache) -> None:
    """A key whose snapshot directory vanished: its recorded files are missing."""
    import shutil
    shutil.rmtree(cache.state("other").directory)
    report = CacheInventory(cache).verify("other")
    assert [(c.file, c.status) for c in report.problems] == [("tokenizer.json", "missing")]


def test_unknown_and_malformed_keys(cache: FileSystemCache) -> None:
    """An unknown key is CacheKeyNotFound (with a close match); a path is InvalidRequest."""
    inventory = CacheInventory(cache)
    with pytest.raises(CacheKeyNotFound) as err:
        inventory.verify("org--nam")
    assert "did you mean 'org--name'?" in err.value.suggestions
    with pytest.raises(InvalidRequest):
        inventory.require("../etc")


# -- prune --------------------------------------------------------------------------------------

def test_prune_key_removes_link_snapshots_partials_and_its_blobs(cache: FileSystemCache) -> None:
    """Pruning a managed key leaves no trace of it; a blob another key links stays."""
    publish(cache, "org--name", {"tokenizer.json": b"{}", "sub/vocab.txt": b"v2"},
            commit=COMMIT2)  # an older snapshot too, and a blob shared with 'other'
    partial = cache.staging_path("org--name", "big.bin", "t")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"half")
    report = CacheInventory(cache).prune("org--name")
    assert report.keys == ["org--name"] and report.snapshots == 2 and report.partials >= 1
    assert report.blobs == 3 and report.bytes_freed == 13 + 4 + 2  # not the shared "{}"
    assert not os.path.lexists(cache.directory("org--name"))
    assert not cache.snapshots("org--name").exists() and not partial.exists()
    assert sorted(os.listdir(cache.blobs)) == [hashlib.sha256(b"{}").hexdigest()]
    assert CacheInventory(cache).keys() == ["other"] and CacheInventory(cache).verify().ok


def test_prune_refuses_a_hand_placed_directory_unless_asked(cache: FileSystemCache) -> None:
    """A real directory is the operator's: ConfigurationError, kept; with
    include_unmanaged the directory goes."""
    (cache.root / "manual").mkdir()
    (cache.root / "manual" / "tokenizer.json").write_text("{}")
    inventory = CacheInventory(cache)
    with pytest.raises(ConfigurationError) as raised:
        inventory.prune("manual")
    assert "--include-unmanaged" in str(raised.value)
    assert (cache.root / "manual" / "tokenizer.json").exists()
    report = inventory.prune("manual", include_unmanaged=True)
    assert report.unmanaged == ["manual"] and report.keys == []
    assert not (cache.root / "manual").exists()


def test_prune_all_removes_only_managed_keys(cache: FileSystemCache) -> None:
    """--all never touches a user's folders, files, or hand-placed keys (issue 9 item 9)."""
    (cache.root / "My Photos").mkdir()
    (cache.root / "My Photos" / "cat.jpg").write_bytes(b"jpg")
    (cache.root / "manual").mkdir()
    (cache.root / "manual" / "tokenizer.json").write_text("{}")
    (cache.root / "notes.txt").write_text("x")
    report = CacheInventory(cache).prune_all()
    assert sorted(report.keys) == ["org--name", "other"] and report.kept == ["manual"]
    remaining = everything(cache.root)
    assert {"My Photos/cat.jpg", "manual/tokenizer.json", "notes.txt"} <= remaining
    assert not [p for p in remaining if p.startswith((".tokacq/blobs/", ".tokacq/snapshots/"))]
    report = CacheInventory(cache).prune_all(include_unmanaged=True)
    assert report.unmanaged == ["manual"]
    assert (cache.root / "My Photos" / "cat.jpg").exists() and (cache.root / "notes.txt").exists()


def test_dry_run_removes_nothing_and_names_what_would_go(cache: FileSystemCache) -> None:
    """A dry run's plan is exactly what the real run then removes, bytes included."""
    publish(cache, "other", {"tokenizer.json": b"{2}"}, repo="org/other", commit=COMMIT2)
    (cache.root / "manual").mkdir()
    before = everything(cache.root)
    for key in ("org--name", "other"):
        plan = CacheInventory(cache).prune(key, dry_run=True)
        assert everything(cache.root) == before and plan.dry_run
        real = CacheInventory(cache).prune(key)
        assert sorted(plan.paths) == sorted(real.paths)
        assert (plan.bytes_freed, plan.blobs, plan.snapshots) == \
            (real.bytes_freed, real.blobs, real.snapshots)
        before = everything(cache.root)
    plan = CacheInventory(cache).prune_all(include_unmanaged=True, dry_run=True)
    assert plan.unmanaged == ["manual"] and everything(cache.root) == before


def test_prune_partials_leaves_only_current_sets(cache: FileSystemCache) -> None:
    """Partials, journals, every temporary file, unlinked and superseded snapshots and
    unused blobs go; the current sets stay intact and verified."""
    old = cache.state("other")
    publish(cache, "other", {"tokenizer.json": b"{2}"}, repo="org/other", commit=COMMIT2)
    assert old.sid in cache.snapshot_ids("other")  # superseded, within GRACE_S
    incomplete = cache.snapshots("org--name") / f"{COMMIT2}-0000beef"
    incomplete.mkdir()
    os.link(cache.blobs / hashlib.sha256(b"a\nb\n").hexdigest(), incomplete / "vocab.txt")
    orphan = cache.blobs / ("e" * 64)
    orphan.write_bytes(b"orphan")
    journal = cache.journal_path("org--name", "t")
    journal.write_bytes(b"{}")
    temporaries = [cache.bookkeeping / "tmp" / "other.0123456789ab.tokacq-tmp",
                   cache.snapshots("other") / ".x.json.abc.tokacq-tmp",
                   cache.partials("gone") / "y.tokacq-tmp",
                   cache.blobs / ".z.tokacq-tmp"]
    for path in temporaries:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"t")
    report = CacheInventory(cache).prune_partials()
    assert report.keys == [] and report.snapshots == 2 and report.blobs >= 2
    remaining = everything(cache.root)
    assert not [p for p in remaining if p.endswith((".tokacq-tmp", ".tokacq-set"))]
    assert not orphan.exists() and not incomplete.exists() and not old.directory.exists()
    assert not cache.partials("org--name").exists() and not cache.partials("gone").exists()
    assert cache.snapshot_ids("other") == [cache.state("other").sid]
    for blob in cache.blobs.iterdir():
        assert blob.stat().st_nlink > 1
    assert CacheInventory(cache).verify().ok and len(CacheInventory(cache).verify().checks) == 3


def test_a_symlinked_bookkeeping_is_refused_and_never_followed(cache: FileSystemCache,
                                                              tmp_path: Path) -> None:
    """Issue 9 item 11: '.tokacq' as a link is CacheWriteError naming it; its target stays."""
    elsewhere = tmp_path / "elsewhere"
    cache.bookkeeping.rename(elsewhere)
    cache.bookkeeping.symlink_to(elsewhere)
    before = everything(elsewhere)
    inventory = CacheInventory(cache)
    for action in (inventory.list, inventory.verify, inventory.prune_all,
                   inventory.prune_partials, lambda: inventory.prune("other"),
                   lambda: inventory.prune_all(dry_run=True)):
        with pytest.raises(CacheWriteError) as raised:
            action()
        assert raised.value.path == cache.bookkeeping and "symlink" in raised.value.reason
    assert everything(elsewhere) == before


# -- locks --------------------------------------------------------------------------------------

def test_prune_waits_for_the_key_lock_then_times_out(cache: FileSystemCache) -> None:
    """A key locked by a download is not deleted; the wait ends in LockTimeout."""
    cache.lock_path("other").parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(cache.lock_path("other"))):
        with pytest.raises(LockTimeout):
            CacheInventory(cache, lock_timeout=0.1).prune("other")
        with pytest.raises(LockTimeout):
            CacheInventory(cache, lock_timeout=0.1).prune_partials()
    assert cache.state("other").kind == "managed" and CacheInventory(cache).verify().ok


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
    assert cache.state("other").kind == "managed"


class _PausingCache(FileSystemCache):
    """Blocks in ``snapshot_ids`` (prune calls it under the key's lock) until released."""

    inside: threading.Event
    go: threading.Event

    def snapshot_ids(self, cache_key: str) -> list[str]:
        self.inside.set()
        self.go.wait(10)
        return super().snapshot_ids(cache_key)


def test_a_download_waiting_on_prune_learns_the_pruning_pid(tmp_path: Path) -> None:
    """While prune holds a key, a waiter's LockTimeout.holder_pid names the pruner."""
    cache = _PausingCache(tmp_path / "cache")
    cache.inside, cache.go = threading.Event(), threading.Event()
    cache.go.set()
    publish(cache, "other", {"tokenizer.json": b"{}"})
    cache.inside.clear()
    cache.go.clear()
    pruning = threading.Thread(target=CacheInventory(cache).prune, args=("other",))
    pruning.start()
    try:
        assert cache.inside.wait(10)

        async def wait_for_key() -> None:
            async with FileKeyLock(cache.lock_path).hold("other", 0.1):
                pass

        with pytest.raises(LockTimeout) as raised:
            asyncio.run(wait_for_key())
        assert raised.value.holder_pid == os.getpid()
    finally:
        cache.go.set()
        pruning.join(10)
    assert not os.path.lexists(cache.directory("other"))
    assert not pid_path(cache.lock_path("other")).exists()
