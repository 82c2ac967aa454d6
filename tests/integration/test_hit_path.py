"""The cache-hit path: reused answers only while the disk is unchanged; hits never print."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from support.logs import capture_events
from support.seeding import seed_snapshot
from tokenizer_acquisition import CacheOnlyAcquisition, TokenizerDownloadInfo, TokenizerNotFound
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache, write_atomically
from tokenizer_acquisition.adapters.logging_observer import LoggingObserver
from tokenizer_acquisition.domain.cache_policy import decide
from tokenizer_acquisition.domain.manifest import ManifestEntry, Snapshot
from tokenizer_acquisition.ports.events import AttemptEvent

pytestmark = pytest.mark.cache_only

FILES = ("tokenizer.json", "sub/vocab.txt")
INFO = TokenizerDownloadInfo("org/name", "key", FILES)


def _seed(cache_dir: Path, minilm_dir: Path) -> Path:
    """A managed snapshot of FILES (as a download publishes it); returns its directory."""
    source = cache_dir.parent / "source"
    (source / "sub").mkdir(parents=True)
    shutil.copyfile(minilm_dir / "tokenizer.json", source / "tokenizer.json")
    shutil.copyfile(minilm_dir / "vocab.txt", source / "sub" / "vocab.txt")
    return seed_snapshot(cache_dir, "key", source, FILES, repo=INFO.repo)


def test_an_unchanged_cache_gives_the_same_answer(cache_dir: Path, minilm_dir: Path) -> None:
    """Two lookups of untouched files share one answer (no re-building on the hit path)."""
    _seed(cache_dir, minilm_dir)
    cache = FileSystemCache(cache_dir)
    assert cache.locate(INFO) is cache.locate(INFO)


@pytest.mark.parametrize("change", ["replace same size", "remove", "manifest", "link out"])
def test_any_change_on_disk_is_seen_by_the_next_lookup(
        cache_dir: Path, minilm_dir: Path, tmp_path: Path, change: str) -> None:
    """Replacing, removing, re-recording or linking a file is never hidden by the reuse."""
    snapshot = _seed(cache_dir, minilm_dir)
    cache = FileSystemCache(cache_dir)
    first = cache.locate(INFO)
    assert decide(INFO, first).hit
    target = cache_dir / "key" / "sub" / "vocab.txt"
    if change == "replace same size":
        spare = cache_dir / "key" / "spare"
        spare.write_bytes(b"x" * target.stat().st_size)
        os.replace(spare, target)
    elif change == "remove":
        target.unlink()
    elif change == "manifest":
        manifest = snapshot.with_name(f"{snapshot.name}.json")
        recorded = Snapshot.from_json(manifest.read_bytes())
        files = {**recorded.files, "sub/vocab.txt": ManifestEntry(size=1, sha256="0" * 64)}
        write_atomically(manifest, replace(recorded, files=files).to_json())
    else:
        outside = tmp_path / "outside"
        outside.mkdir()
        # The very bytes recorded: only where they are makes them not ours to serve.
        (outside / "vocab.txt").write_bytes(target.read_bytes())
        target.unlink()
        (cache_dir / "key" / "sub").rmdir()
        (cache_dir / "key" / "sub").symlink_to(outside)
    second = cache.locate(INFO)
    assert second is not first
    assert not decide(INFO, second).hit
    if change == "replace same size":
        assert second.found["sub/vocab.txt"] != first.found["sub/vocab.txt"]
        assert second.found["sub/vocab.txt"].sha256 != second.manifest["sub/vocab.txt"].sha256
    elif change == "manifest":
        assert second.manifest["sub/vocab.txt"].size == 1
    else:
        assert "sub/vocab.txt" not in second.found


async def test_a_truncated_file_stops_being_a_hit(cache_dir: Path, minilm_dir: Path) -> None:
    """After a hit, truncating a recorded file makes the next acquisition a miss."""
    _seed(cache_dir, minilm_dir)
    strategy = CacheOnlyAcquisition(cache_dir)
    assert (await strategy.acquire(INFO)).from_cache
    with (cache_dir / "key" / "tokenizer.json").open("r+b") as handle:
        handle.truncate(10)
    with pytest.raises(TokenizerNotFound) as err:
        await strategy.acquire(INFO)
    assert err.value.stale_files == ("tokenizer.json",)


def test_hits_and_misses_are_debug_records_and_print_nothing_unconfigured(
        capsys: pytest.CaptureFixture[str]) -> None:
    """With logging unconfigured nothing prints; hits and a hybrid part's miss are debug."""
    observer = LoggingObserver()
    observer.attempt_finished(AttemptEvent("cache-only", "key", "hit", 0.0001))
    observer.attempt_finished(AttemptEvent("cache-only", "key", "failed", 0.0001,
                                           error_type="TokenizerNotFound"))
    assert capsys.readouterr() == ("", "")
    with capture_events() as logs:
        observer.attempt_finished(AttemptEvent("cache-only", "key", "hit", 0.0001))
        observer.attempt_finished(AttemptEvent("cache-only", "key", "failed", 0.0001,
                                               error_type="TokenizerNotFound"))
    assert [(e["event"], e["log_level"], e["outcome"]) for e in logs] == [
        ("tokenizer.attempt", "debug", "hit"), ("tokenizer.attempt", "debug", "failed")]
    assert logs[0]["strategy"] == "cache-only" and logs[0]["cache_key"] == "key"


def test_real_failures_are_warnings_that_print_nothing_unconfigured(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A failed download is a warning record, yet unconfigured logging prints nothing."""
    with capture_events() as logs:
        LoggingObserver().attempt_finished(
            AttemptEvent("network", "key", "failed", 0.2, error_type="NetworkError"))
    LoggingObserver().attempt_finished(
        AttemptEvent("network", "key", "failed", 0.2, error_type="NetworkError"))
    assert [e["log_level"] for e in logs] == ["warning"]
    assert capsys.readouterr() == ("", "")
