"""SIGKILL a downloading process at 20 byte offsets: every rerun ends with a verified file."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from reliability.conftest import Results
from reliability.harness import child_env
from support.network import FAST, blob, options, partial_files
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.adapters.partial_file import sidecar_path
from tokenizer_acquisition.strategies import NetworkAcquisition
from tokenizer_acquisition.testing import HubSimulator, SlowDrip

COMMAND = "pytest tests/reliability/test_kill_resume.py"
SIZE = 4 * 1024 * 1024
OFFSETS = 20
PARALLEL = 4
#: ~1.3 MB/s: the child writes its partial every 0.25 s, so offsets land ~330 kB apart.
DRIP = SlowDrip(chunk_size=32 * 1024, delay_s=0.025)
CHILD = """
import asyncio, sys
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.strategies import NetworkAcquisition

async def main(cache, endpoint, repo, file):
    strategy = NetworkAcquisition(cache, endpoint=endpoint, trust_env=False)
    try:
        await strategy.acquire(TokenizerDownloadInfo(repo, "big", (file,)))
    finally:
        await strategy.aclose()

asyncio.run(main(*sys.argv[1:]))
"""


@dataclass
class Outcome:
    offset: int
    kept: int
    resumable: bool
    fetched: int
    verified: bool
    changed: bool


async def _kill_at(sim: HubSimulator, cache: Path, index: int, offset: int, changed: bool
                   ) -> Outcome:
    repo, file = f"org/big{index}", f"shard{index}.bin"
    data = blob(SIZE, seed=100 + index)
    sim.add_repo(repo, {file: data}, lfs=[file])
    sim.inject(DRIP, path=file)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(cache), sim.endpoint, repo, file,
        env=child_env(), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(30):
            while True:
                found = partial_files(cache, "big")
                started = any(r.file == file for r in sim.requests)
                if started and (offset == 0 or (found and found[0].stat().st_size >= offset)):
                    break
                if child.returncode is not None:
                    break  # finished before the offset: handled as "finished" below
                await asyncio.sleep(0.005)
    finally:
        if child.returncode is None:
            # On a loaded machine the child may finish between the last poll and here.
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGKILL)
        await child.wait()
    # A child that completed on its own left a whole set of the file as it was then: with
    # the Hub changed afterwards, the cached revision is (rightly) served as it was.
    finished = child.returncode == 0
    old = data
    found = partial_files(cache, "big")
    kept = found[0].stat().st_size if found else 0
    resumable = bool(found) and kept > 0 and sidecar_path(found[0]).exists()
    if changed:  # the file changes on the Hub meanwhile: the partial's validator is stale
        data = blob(SIZE, seed=900 + index)
        sim.replace_file(repo, file, data)
    before = sum(r.bytes_sent for r in sim.file_gets(file))
    strategy = NetworkAcquisition(cache, options=options(sim), backoff=FAST)
    try:
        result = await strategy.acquire(TokenizerDownloadInfo(repo, "big", (file,)))
    finally:
        await strategy.aclose()
    fetched = result.bytes_downloaded
    expected = old if finished else data
    verified = result.path.read_bytes() == expected and not partial_files(cache, "big")
    assert sum(r.bytes_sent for r in sim.file_gets(file)) - before >= fetched
    return Outcome(offset, kept, resumable, fetched, verified, changed)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
async def test_sigkill_at_twenty_offsets_then_rerun(tmp_path: Path, results: Results) -> None:
    """Kill at offsets 0..95% of a 4 MB file; rerun verifies, and resumes when it can."""
    gate = asyncio.Semaphore(PARALLEL)

    async def one(index: int) -> Outcome:
        async with gate:
            offset = index * SIZE // OFFSETS
            return await _kill_at(sim, tmp_path / f"cache{index}", index, offset,
                                  changed=index % 5 == 4)

    async with HubSimulator() as sim:
        outcomes = await asyncio.gather(*(one(i) for i in range(OFFSETS)))
    good = [o for o in outcomes if o.verified and (
        o.fetched < SIZE if o.resumable and not o.changed else o.fetched <= SIZE)]
    lost = sum(SIZE for o in outcomes if not o.verified)
    results.add("SIGKILL at 20 byte offsets, then rerun", runs=len(outcomes),
                passed=len(good), bytes_lost=lost, command=COMMAND)
    resumed = [o for o in outcomes if o.resumable and not o.changed]
    results.add("  of which resumed (kept partial, validator matched)", runs=len(resumed),
                passed=sum(o.fetched == SIZE - o.kept for o in resumed), command=COMMAND)
    assert len(good) == len(outcomes), [o for o in outcomes if o not in good]
    assert len(resumed) >= OFFSETS // 2, outcomes
