"""A full disk at every point of publishing a set, on a real tmpfs (issue 9: bookkeeping
survives ENOSPC at any write): the failure is a typed CacheWriteError, and once space is
back the next run completes, serves the right bytes, records every file, and leaves
nothing that ``cache prune --partials`` would not remove."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from reliability.conftest import Results
from support.network import FAST, MINILM, REPO, options
from support.tmpfs import mounted_tmpfs
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.adapters.cache_inventory import CacheInventory
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
from tokenizer_acquisition.domain.errors import CacheWriteError
from tokenizer_acquisition.strategies import NetworkAcquisition
from tokenizer_acquisition.testing import HubSimulator

FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
SET_BYTES = sum((MINILM / name).stat().st_size for name in FILES)
#: Free space left before the first run, from nothing to more than the whole set.
STEPS = 12
COMMAND = "pytest tests/reliability/test_full_disk_sweep.py"


@pytest.fixture
def tmpfs() -> Iterator[Path]:
    """A real 4 MB tmpfs (root only); skipped with the reason when it cannot be mounted."""
    with mounted_tmpfs("4m") as path:
        yield path


def _leave_free(directory: Path, free: int) -> Path:
    """A ballast file that leaves about ``free`` bytes on the filesystem."""
    st = os.statvfs(directory)
    size = max(0, st.f_bavail * st.f_frsize - free)
    ballast = directory / "ballast"
    with open(ballast, "wb") as handle:
        for _ in range(size // (1 << 16)):
            handle.write(b"\0" * (1 << 16))
        handle.write(b"\0" * (size % (1 << 16)))
    return ballast


async def _acquire(sim: HubSimulator, cache: Path) -> dict[str, bytes]:
    strategy = NetworkAcquisition(cache, options=options(sim), backoff=FAST)
    try:
        result = await strategy.acquire(TokenizerDownloadInfo(REPO, "minilm", FILES))
    finally:
        await strategy.aclose()
    return {name: path.read_bytes() for name, path in result.files.items()}


def test_enospc_at_every_free_space_then_the_next_run_completes(
        tmpfs: Path, results: Results) -> None:
    """Free space from 0 to more than the set: typed failure or success, then recovery."""
    expected = {name: hashlib.sha256((MINILM / name).read_bytes()).hexdigest() for name in FILES}
    failed = passed = 0
    with HubSimulator().run_in_thread() as sim:
        sim.add_repo_from_dir(REPO, MINILM, lfs=["tokenizer.json"])
        for step in range(STEPS):
            root = tmpfs / f"cache{step}"
            root.mkdir()
            ballast = _leave_free(tmpfs, step * (SET_BYTES * 2 // (STEPS - 1)))
            try:
                asyncio.run(_acquire(sim, root))
            except CacheWriteError as error:  # the only acceptable failure
                failed += 1
                assert str(error.path).startswith(str(tmpfs))
            finally:
                ballast.unlink()
            served = asyncio.run(_acquire(sim, root))
            assert {n: hashlib.sha256(b).hexdigest() for n, b in served.items()} == expected
            cache = FileSystemCache(root)
            state = cache.state("minilm")
            assert state.snapshot is not None and set(state.snapshot.files) == set(FILES)
            inventory = CacheInventory(cache, lock_timeout=5.0)
            assert inventory.verify().ok
            inventory.prune_partials()
            leftovers = [p for p in root.rglob("*")
                         if p.name.endswith((".tokacq-tmp", ".tokacq-set", ".tokacq-partial",
                                             ".validator.json"))]
            assert leftovers == [], leftovers
            passed += 1
            shutil.rmtree(root)  # the next step starts from the same free space
    results.add("disk full (real tmpfs) at 12 levels of free space, then rerun",
                runs=STEPS, passed=passed, bytes_lost=0, command=COMMAND)
    assert failed >= 1, "no step ran out of space: the sweep exercised nothing"
