"""Many processes on one cache: the per-key file lock, its timeout, and life without it.

Each worker is a subprocess running ``WORKER`` against a simulator served from a thread
of the test process; workers wait at a file barrier so their downloads overlap.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.network import FAST, MINILM, MINILM_FILES, REPO, manifest, options, partial_files
from support.seeding import current_snapshot
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.adapters.filesystem_cache import TMP_SUFFIX, FileSystemCache
from tokenizer_acquisition.domain.errors import LockTimeout
from tokenizer_acquisition.strategies import NetworkAcquisition
from tokenizer_acquisition.testing import HubSimulator, SlowDrip

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX processes")

KEY = "minilm"
INFO = TokenizerDownloadInfo(REPO, KEY, MINILM_FILES)

WORKER = textwrap.dedent("""
    import asyncio, json, os, sys, time
    from pathlib import Path
    from tokenizer_acquisition import TokenizerDownloadInfo
    from tokenizer_acquisition.ports.lock import NoLock
    from tokenizer_acquisition.strategies import NetworkAcquisition

    cache, endpoint, lock, barrier, files = sys.argv[1:6]
    ready, go = Path(barrier) / f"ready-{os.getpid()}", Path(barrier) / "go"

    async def main():
        strategy = NetworkAcquisition(cache, endpoint=endpoint, trust_env=False,
                                      lock=NoLock() if lock == "none" else None)
        ready.touch()
        deadline = time.monotonic() + 30
        while not go.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        try:
            result = await strategy.acquire(TokenizerDownloadInfo(
                "sentence-transformers/all-MiniLM-L6-v2", "minilm", tuple(files.split(","))))
        finally:
            await strategy.aclose()
        print(json.dumps({"path": str(result.path), "bytes": result.bytes_downloaded}))

    asyncio.run(main())
""")

HOLDER = textwrap.dedent("""
    import asyncio, sys
    from tokenizer_acquisition.adapters.file_lock import FileKeyLock
    from tokenizer_acquisition.adapters.filesystem_cache import TMP_SUFFIX, FileSystemCache

    async def main():
        cache = FileSystemCache(sys.argv[1])
        async with FileKeyLock(cache.lock_path).hold(sys.argv[2], 10):
            print("held", flush=True)
            await asyncio.sleep(60)

    asyncio.run(main())
""")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TOKACQ_"))}


@pytest.fixture
def sim() -> Iterator[HubSimulator]:
    simulator = HubSimulator()
    simulator.add_repo_from_dir(REPO, MINILM, lfs=["tokenizer.json"])
    with simulator.run_in_thread() as running:
        yield running


def run_workers(sim: HubSimulator, cache: Path, barrier: Path, count: int, *,
                lock: str = "file") -> list[dict[str, object]]:
    """Start ``count`` workers, release them together, return what each printed."""
    barrier.mkdir(exist_ok=True)
    argv = [sys.executable, "-c", WORKER, str(cache), sim.endpoint, lock, str(barrier),
            ",".join(MINILM_FILES)]
    workers = [subprocess.Popen(argv, env=clean_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(count)]
    try:
        deadline = time.monotonic() + 30
        while len(list(barrier.glob("ready-*"))) < count:
            assert time.monotonic() < deadline, "workers did not start"
            assert all(w.poll() is None for w in workers), "a worker died before the barrier"
            time.sleep(0.01)
        (barrier / "go").touch()
        outputs = [w.communicate(timeout=60) for w in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                stop(worker)
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    # The last line is the worker's own (structlog's default output may precede it).
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


def assert_complete_and_verified(cache: Path) -> None:
    """The key shows one complete snapshot: every file is the source's bytes, every entry of
    its manifest matches its file; no leftovers (partials, temporary files)."""
    snapshot = current_snapshot(cache, KEY)
    assert snapshot.parent == cache / ".tokacq" / "snapshots" / KEY
    for name in MINILM_FILES:
        assert (cache / KEY / name).read_bytes() == (MINILM / name).read_bytes(), name
    doc = manifest(cache, KEY)
    assert (doc["cache_key"], doc["repo"]) == (KEY, REPO)
    assert sorted(doc["files"]) == sorted(MINILM_FILES)
    for name, entry in doc["files"].items():
        data = (snapshot / name).read_bytes()
        assert (entry["size"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert not partial_files(cache, KEY)
    assert not list(snapshot.glob(".*"))
    assert not list(cache.rglob(f"*{TMP_SUFFIX}"))


def start_holder(cache: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(cache), KEY], env=clean_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    if holder.stdout.readline().strip() != "held":
        holder.kill()
        pytest.fail(f"the holder did not take the lock: {holder.communicate(timeout=10)[1]}")
    return holder


def stop(holder: subprocess.Popen[str]) -> None:
    """Kill (if still alive) and reap, closing the pipes."""
    if holder.poll() is None:
        holder.kill()
    holder.communicate(timeout=10)


def test_four_processes_download_each_file_once(sim: HubSimulator, tmp_path: Path) -> None:
    """4 processes at once: each file is served once in total; all end with the same files."""
    sim.inject(SlowDrip(chunk_size=65_536, delay_s=0.02), path="tokenizer.json")
    sim.latency = 0.05
    cache = tmp_path / "cache"
    outputs = run_workers(sim, cache, tmp_path / "barrier", 4)
    for name in MINILM_FILES:
        assert len(sim.file_gets(name)) == 1, name
    # One download, one snapshot: every process is served from it.
    assert {o["path"] for o in outputs} == {
        str(current_snapshot(cache, KEY) / "tokenizer.json")}
    total = sum((MINILM / n).stat().st_size for n in MINILM_FILES)
    assert sorted(o["bytes"] for o in outputs) == [0, 0, 0, total]
    assert_complete_and_verified(cache)


def test_without_locks_two_processes_still_leave_only_verified_files(
    sim: HubSimulator, tmp_path: Path
) -> None:
    """Locks as no-ops (NoLock), 2 processes: complete verified files and a valid manifest."""
    sim.inject(SlowDrip(chunk_size=65_536, delay_s=0.02), path="tokenizer.json", times=2)
    sim.latency = 0.05
    cache = tmp_path / "cache"
    outputs = run_workers(sim, cache, tmp_path / "barrier", 2, lock="none")
    # Each process is served the snapshot it published (or found): every one is complete
    # and verified, and the key shows one of them.
    paths = {Path(str(o["path"])) for o in outputs}
    for path in paths:
        assert path.parent.parent == cache / ".tokacq" / "snapshots" / KEY
        for name in MINILM_FILES:
            assert (path.parent / name).read_bytes() == (MINILM / name).read_bytes(), name
    assert current_snapshot(cache, KEY) / "tokenizer.json" in paths
    assert_complete_and_verified(cache)


def test_lock_timeout_names_the_lock_file_and_holder(sim: HubSimulator, tmp_path: Path) -> None:
    """Another process holds the key: LockTimeout with the lock file and its pid; no GET."""
    cache = tmp_path / "cache"
    holder = start_holder(cache)
    try:
        strategy = NetworkAcquisition(cache, options=options(sim), backoff=FAST,
                                      lock_timeout=0.3)

        async def attempt() -> None:
            try:
                await strategy.acquire(INFO)
            finally:
                await strategy.aclose()

        with pytest.raises(LockTimeout) as err:
            asyncio.run(attempt())
    finally:
        stop(holder)
    assert err.value.lock_file == FileSystemCache(cache).lock_path(KEY)
    assert err.value.holder_pid == holder.pid
    assert err.value.timeout_s == 0.3
    assert sim.requests == []


def test_sigkilled_holder_does_not_block_the_next_acquirer(
    sim: HubSimulator, tmp_path: Path
) -> None:
    """The holder is SIGKILLed while we wait: the kernel frees the lock and we download."""
    cache = tmp_path / "cache"
    holder = start_holder(cache)
    strategy = NetworkAcquisition(cache, options=options(sim), backoff=FAST, lock_timeout=30)

    async def wait_then_kill() -> Path:
        task = asyncio.create_task(strategy.acquire(INFO))
        try:
            await asyncio.sleep(0.2)
            assert not task.done(), "the acquirer did not wait for the holder"
            os.kill(holder.pid, signal.SIGKILL)
            await asyncio.to_thread(holder.wait, 10)
            async with asyncio.timeout(20):
                return (await task).path
        finally:
            task.cancel()
            await strategy.aclose()

    try:
        path = asyncio.run(wait_then_kill())
    finally:
        stop(holder)
    assert path.read_bytes() == (MINILM / "tokenizer.json").read_bytes()
    for name in MINILM_FILES:
        assert len(sim.file_gets(name)) == 1, name
