"""A prune racing downloads of the same key: each acquisition ends in a set or a typed
error, never a KeyError or FileNotFoundError (issue 10, item 1)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.network import MINILM, REPO, network
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.errors import AcquisitionError
from tokenizer_acquisition.testing import HubSimulator

PRUNER = textwrap.dedent("""
    import sys, time
    from tokenizer_acquisition.adapters.cache_inventory import CacheInventory
    from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
    from tokenizer_acquisition.domain.errors import AcquisitionError

    inventory = CacheInventory(FileSystemCache(sys.argv[1]), lock_timeout=5.0)
    deadline = time.monotonic() + float(sys.argv[2])
    pruned = 0
    for _ in range(2000):  # bounded in count and in time
        if time.monotonic() > deadline:
            break
        try:
            pruned += bool(inventory.prune("minilm").keys)
        except AcquisitionError:
            pass  # not there right now
        time.sleep(0.002)
    print(pruned)
""")


@pytest.fixture
async def sim() -> AsyncIterator[HubSimulator]:
    async with HubSimulator() as simulator:
        simulator.add_repo_from_dir(REPO, MINILM, lfs=["tokenizer.json"])
        yield simulator


async def test_prune_right_after_downloads_never_breaks_an_acquisition(
        sim: HubSimulator, tmp_path: Path) -> None:
    """A pruner process removes the key again and again while downloads publish it."""
    info = TokenizerDownloadInfo(REPO, "minilm", ("tokenizer.json", "vocab.txt"),
                                 expected_vocab=30522)
    strategy = network(sim, tmp_path)
    # Started once, waited for at the end: blocking calls here are the point.
    pruner = subprocess.Popen([sys.executable, "-c", PRUNER, str(tmp_path), "4"],  # noqa: ASYNC220
                              stdout=subprocess.PIPE, text=True)
    outcomes: list[str] = []
    try:
        for _ in range(25):
            try:
                result = await strategy.acquire(info)
            except AcquisitionError as error:
                outcomes.append(type(error).__name__)
            else:
                outcomes.append("ok")
                assert result.commit == sim.commit_for(REPO)
    finally:
        await strategy.aclose()
        out, _ = pruner.communicate(timeout=30)
    assert pruner.returncode == 0
    assert "ok" in outcomes, outcomes
    assert int(out.strip()) > 0, "the pruner never removed the key: no race was exercised"
