"""``CacheInventory.prune_unused`` and last access: whole managed keys, least recently used
first, by age and/or until the cache fits; access measured without writing on hits."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from integration.test_cache_inventory import publish
from tokenizer_acquisition.adapters.cache_inventory import CacheInventory
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
from tokenizer_acquisition.domain.errors import ConfigurationError

DAY = 86400.0
NOW = time.time()


def age(cache: FileSystemCache, key: str, days: float) -> None:
    """Make the key look last read ``days`` ago (atime of its snapshot files)."""
    directory = cache.state(key).directory
    for path in directory.rglob("*"):
        if path.is_file():
            st = os.stat(path)
            os.utime(path, (NOW - days * DAY, st.st_mtime))


@pytest.fixture
def cache(tmp_path: Path) -> FileSystemCache:
    cache = FileSystemCache(tmp_path / "cache")
    publish(cache, "old", {"tokenizer.json": b"o" * 10_000})
    publish(cache, "middle", {"tokenizer.json": b"m" * 20_000})
    publish(cache, "recent", {"tokenizer.json": b"r" * 40_000})
    publish(cache, "shared", {"tokenizer.json": b"r" * 40_000})  # same blob as "recent"
    (cache.root / "manual").mkdir()
    (cache.root / "manual" / "tokenizer.json").write_bytes(b"h" * 100)
    return cache


def test_access_is_the_newest_atime_never_before_creation(cache: FileSystemCache) -> None:
    inventory = CacheInventory(cache)
    fresh = inventory.describe("old")
    assert fresh.accessed_from == "created" and fresh.accessed_at == fresh.created_at
    later = (fresh.created_at or NOW) + 100
    for path in fresh.directory.rglob("*"):
        os.utime(path, (later, os.stat(path).st_mtime))
    read = inventory.describe("old")
    assert read.accessed_from == "atime" and read.accessed_at == pytest.approx(later)
    assert read.to_dict()["accessed_at"] == pytest.approx(later)
    manual = inventory.describe("manual")
    assert manual.accessed_from in ("atime", "modified") and manual.accessed_at


def test_a_cache_hit_writes_nothing_and_verify_keeps_atimes(cache: FileSystemCache) -> None:
    """Listing, locating and verifying do not count as a use (O_NOATIME where allowed)."""
    inventory = CacheInventory(cache)
    before = inventory.describe("old").accessed_at
    assert inventory.verify("old").ok
    assert inventory.describe("old").accessed_at == before


def test_older_than_removes_only_keys_not_read_since(cache: FileSystemCache) -> None:
    """Creation times are recent, so only atimes could make a key old: set them in the
    past by pretending "now" is 40 days ahead, with two keys read 5 days before that."""
    later = NOW + 40 * DAY
    for key in ("recent", "shared"):
        for path in cache.state(key).directory.rglob("*"):
            os.utime(path, (later - 5 * DAY, os.stat(path).st_mtime))
    inventory = CacheInventory(cache)
    plan = inventory.prune_unused(older_than=30 * DAY, dry_run=True, now=later)
    assert sorted(plan.keys) == ["middle", "old"] and plan.fits is None
    assert set(inventory.keys()) >= {"old", "middle"}  # a dry run removes nothing
    done = inventory.prune_unused(older_than=30 * DAY, now=later)
    assert sorted(done.keys) == ["middle", "old"]
    assert inventory.keys() == ["manual", "recent", "shared"]
    assert done.bytes_freed == 30_000


def test_keep_size_removes_least_recently_used_until_it_fits(cache: FileSystemCache) -> None:
    inventory = CacheInventory(cache)
    entries = {e.key: e for e in inventory.list()}
    base = max(e.accessed_at or 0 for e in entries.values()) + 10
    # "recent" and "shared" share their only file (one inode, so one atime): they tie.
    order = ("middle", "old", "recent")
    for rank, key in enumerate(order):
        for path in cache.state(key).directory.rglob("*"):
            os.utime(path, (base + rank, os.stat(path).st_mtime))
    usage = inventory.disk_usage()
    assert usage >= 10_000 + 20_000 + 40_000 + 100  # "recent" and "shared" share one blob
    plan = inventory.prune_unused(keep_size=usage - 15_000, dry_run=True)
    assert plan.keys == ["middle"] and plan.fits and plan.size_before == usage
    plan = inventory.prune_unused(keep_size=usage - 25_000, dry_run=True)
    assert plan.keys == ["middle", "old"] and plan.fits and plan.bytes_freed == 30_000
    # "recent" alone frees nothing ("shared" still links the blob): both have to go.
    plan = inventory.prune_unused(keep_size=usage - 35_000, dry_run=True)
    assert plan.keys == ["middle", "old", "recent", "shared"] and plan.fits
    assert plan.bytes_freed == 70_000
    report = inventory.prune_unused(keep_size=usage - 25_000)
    assert report.keys == ["middle", "old"] and report.fits
    assert inventory.keys() == ["manual", "recent", "shared"]
    assert inventory.disk_usage() <= usage - 25_000
    assert inventory.verify("shared").ok and inventory.verify("recent").ok


def test_keep_size_that_cannot_be_met_removes_every_managed_key_and_says_so(
        cache: FileSystemCache) -> None:
    inventory = CacheInventory(cache)
    report = inventory.prune_unused(keep_size=10)
    assert sorted(report.keys) == ["middle", "old", "recent", "shared"]
    assert report.fits is False and report.unmanaged == []
    assert inventory.keys() == ["manual"]


def test_both_filters_each_hold_afterwards(cache: FileSystemCache) -> None:
    inventory = CacheInventory(cache)
    later = NOW + 40 * DAY
    for key in ("middle", "recent", "shared"):
        for path in cache.state(key).directory.rglob("*"):
            os.utime(path, (later - DAY, os.stat(path).st_mtime))
    usage = inventory.disk_usage()
    plan = inventory.prune_unused(older_than=30 * DAY, keep_size=usage - 25_000,
                                  dry_run=True, now=later)
    assert plan.keys[0] == "old" and "middle" in plan.keys and plan.fits


def test_prune_unused_needs_a_filter_and_an_absent_cache_is_empty(tmp_path: Path) -> None:
    inventory = CacheInventory(FileSystemCache(tmp_path / "none"))
    with pytest.raises(ConfigurationError):
        inventory.prune_unused()
    report = inventory.prune_unused(keep_size=0)
    assert report.keys == [] and report.fits is True
