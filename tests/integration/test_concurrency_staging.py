"""Partials unique per download, and who may take over an abandoned one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tokenizer_acquisition.adapters import staging
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache

TAG = "0123456789abcdef"


def partial_named(cache: FileSystemCache, owner: str, data: bytes) -> Path:
    path = cache.partials("k") / f"vocab.txt.{TAG}.{owner}{staging.SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.with_name(path.name + ".validator.json").write_text("{}")
    return path


def test_overlapping_downloads_never_share_a_partial(tmp_path: Path) -> None:
    """Two reservations at once get two names; the second does not take the first's bytes."""
    cache = FileSystemCache(tmp_path)
    with cache.staging("k", "vocab.txt", TAG) as first:
        first.parent.mkdir(parents=True, exist_ok=True)
        first.write_bytes(b"abc")
        with cache.staging("k", "vocab.txt", TAG) as second:
            assert second != first and not second.exists()
            assert first.read_bytes() == b"abc"


def test_finished_download_of_this_process_is_resumed(tmp_path: Path) -> None:
    """A partial this process no longer uses is handed over with its validator sidecar."""
    cache = FileSystemCache(tmp_path)
    with cache.staging("k", "vocab.txt", TAG) as first:
        first.parent.mkdir(parents=True, exist_ok=True)
        first.write_bytes(b"abc")
        first.with_name(first.name + ".validator.json").write_text("{}")
    with cache.staging("k", "vocab.txt", TAG) as second:
        assert second.read_bytes() == b"abc"
        assert second.with_name(second.name + ".validator.json").exists()
        assert not first.exists()


def test_live_process_keeps_its_partial_and_dead_one_hands_it_over(tmp_path: Path) -> None:
    """A partial of a running process stays its own; one of an exited process is adopted."""
    cache = FileSystemCache(tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = partial_named(cache, f"{staging.host_id()}@{sleeper.pid}@0", b"live")
        with cache.staging("k", "vocab.txt", TAG) as staged:
            assert not staged.exists() and live.exists()
    finally:
        sleeper.kill()
        sleeper.wait(10)
    with cache.staging("k", "vocab.txt", TAG) as staged:
        assert staged.read_bytes() == b"live" and not live.exists()


def test_other_hosts_unlocked_partial_is_adopted(tmp_path: Path) -> None:
    """Another host's pid cannot be checked, but its lock can: nobody holds it, so it is taken."""
    cache = FileSystemCache(tmp_path)
    foreign = partial_named(cache, "elsewhere-1@42@0", b"far")
    with cache.staging("k", "vocab.txt", TAG) as staged:
        assert staged.read_bytes() == b"far" and not foreign.exists()


def test_locked_partial_is_never_adopted_however_old(tmp_path: Path) -> None:
    """A partial whose flock another process holds is live: not adopted, even hours idle."""
    cache = FileSystemCache(tmp_path)
    foreign = partial_named(cache, "elsewhere-1@42@0", b"far")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDWR)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "time.sleep(60)\n", str(foreign)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        old = time.time() - 10 * staging.FOREIGN_STALE_S
        os.utime(foreign, (old, old))
        with cache.staging("k", "vocab.txt", TAG) as staged:
            assert not staged.exists() and foreign.read_bytes() == b"far"
    finally:
        holder.kill()
        holder.communicate(timeout=10)
    with cache.staging("k", "vocab.txt", TAG) as staged:
        assert staged.read_bytes() == b"far" and not foreign.exists()


def test_reserve_release_pair_hands_over_a_released_partial(tmp_path: Path) -> None:
    """reserve_staging keeps a partial ours until release_staging; then it is adopted."""
    cache = FileSystemCache(tmp_path)
    first = cache.reserve_staging("k", "vocab.txt", TAG)
    first.parent.mkdir(parents=True, exist_ok=True)
    first.write_bytes(b"abc")
    second = cache.reserve_staging("k", "vocab.txt", TAG)
    assert second != first and not second.exists() and first.exists()
    cache.release_staging(second)
    cache.release_staging(first)
    third = cache.reserve_staging("k", "vocab.txt", TAG)
    try:
        assert third.read_bytes() == b"abc" and not first.exists()
    finally:
        cache.release_staging(third)
