"""A lock holder that hangs (SIGSTOP): waiters get LockTimeout in time, not a hang."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest

from reliability.conftest import Results
from reliability.harness import child_env
from support.network import FAST, blob, options, partial_files
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.errors import LockTimeout
from tokenizer_acquisition.strategies import NetworkAcquisition
from tokenizer_acquisition.testing import HubSimulator, SlowDrip

pytest.importorskip("tokenizer_acquisition.adapters.file_lock")

COMMAND = "pytest tests/reliability/test_lock_hang.py"
HOLDER = """
import asyncio, sys
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.strategies import NetworkAcquisition

async def main(cache, endpoint):
    strategy = NetworkAcquisition(cache, endpoint=endpoint, trust_env=False)
    try:
        await strategy.acquire(TokenizerDownloadInfo("org/hang", "hang", ("tokenizer.json",)))
    finally:
        await strategy.aclose()

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
@pytest.mark.parametrize("timeout_s", [0.5, 2.0])
async def test_stopped_lock_holder_makes_waiters_time_out(
        tmp_path: Path, timeout_s: float, results: Results) -> None:
    """Holder stopped mid-download: 3 waiters each raise LockTimeout(holder_pid) after ~timeout."""
    data = blob(2_000_000, seed=31)
    async with HubSimulator() as sim:
        sim.add_repo("org/hang", {"tokenizer.json": data}, lfs=["tokenizer.json"])
        sim.inject(SlowDrip(chunk_size=16_384, delay_s=0.02), path="tokenizer.json")
        holder = await asyncio.create_subprocess_exec(
            sys.executable, "-c", HOLDER, str(tmp_path), sim.endpoint, env=child_env(),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            async with asyncio.timeout(30):
                while not partial_files(tmp_path, "hang"):  # noqa: ASYNC110 - polling a file
                    await asyncio.sleep(0.01)
            holder.send_signal(signal.SIGSTOP)

            async def wait() -> tuple[BaseException | None, float]:
                strategy = NetworkAcquisition(tmp_path, options=options(sim), backoff=FAST,
                                              lock_timeout=timeout_s)
                started = time.monotonic()
                try:
                    await strategy.acquire(
                        TokenizerDownloadInfo("org/hang", "hang", ("tokenizer.json",)))
                    return None, time.monotonic() - started
                except BaseException as exc:  # judged below
                    return exc, time.monotonic() - started
                finally:
                    await strategy.aclose()

            async with asyncio.timeout(timeout_s + 20):
                waited = await asyncio.gather(*(wait() for _ in range(3)))
        finally:
            holder.send_signal(signal.SIGKILL)
            await holder.wait()
    good = [(e, s) for e, s in waited if isinstance(e, LockTimeout)
            and e.holder_pid == holder.pid and e.timeout_s == timeout_s and s >= timeout_s]
    results.add("lock holder hangs (SIGSTOP): waiters time out", runs=len(waited),
                passed=len(good), command=COMMAND)
    assert len(good) == len(waited), waited
