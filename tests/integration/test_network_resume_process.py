"""Resume across processes: a SIGKILLed download is continued by the next process."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from support.network import FAST, blob, bytes_sent, options, partial_files
from tokenizer_acquisition import SmartTokenizerDownload, TokenizerDownloadInfo
from tokenizer_acquisition.strategies import NetworkAcquisition
from tokenizer_acquisition.testing import HubSimulator, SlowDrip

DATA = blob(2_000_000, seed=3)
CHILD = textwrap.dedent("""
    import asyncio, sys
    from tokenizer_acquisition import TokenizerDownloadInfo
    from tokenizer_acquisition.strategies import NetworkAcquisition

    async def main():
        strategy = NetworkAcquisition(sys.argv[1], endpoint=sys.argv[2], trust_env=False)
        try:
            await strategy.acquire(TokenizerDownloadInfo("org/big", "big", ("tokenizer.model",)))
        finally:
            await strategy.aclose()

    asyncio.run(main())
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_resume_after_sigkill_in_another_process(tmp_path: Path) -> None:
    """The second process sends Range + If-Range and fetches well under 2x the file."""
    cache = tmp_path / "cache"
    with HubSimulator().run_in_thread() as sim:
        sim.add_repo("org/big", {"tokenizer.model": DATA}, lfs=["tokenizer.model"])
        sim.inject(SlowDrip(chunk_size=16_384, delay_s=0.01), path="tokenizer.model")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TOKACQ_"))}
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(cache), sim.endpoint],
                                 env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                found = partial_files(cache, "big")
                if found and found[0].stat().st_size >= 200_000:
                    break
                assert child.poll() is None, "the child finished before it could be killed"
                time.sleep(0.01)
            else:
                pytest.fail("the child never wrote a partial")
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        kept = partial_files(cache, "big")[0].stat().st_size
        assert 0 < kept < len(DATA)

        strategy = NetworkAcquisition(cache, options=options(sim), backoff=FAST)

        async def finish() -> Path:
            try:
                return (await strategy.acquire(TokenizerDownloadInfo(
                    "org/big", "big", ("tokenizer.model",)))).path
            finally:
                await strategy.aclose()

        path = asyncio.run(finish())
        gets = sim.file_gets("tokenizer.model")
        sent = bytes_sent(sim, "tokenizer.model")
    assert path.read_bytes() == DATA
    last = gets[-1]
    assert last.range is not None and int(last.range.removeprefix("bytes=").rstrip("-")) > 0
    assert last.if_range == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert last.status == 206
    assert sent < 2 * len(DATA)
    assert not partial_files(cache, "big")


def test_sync_facade_reuses_strategy_across_event_loops(tmp_path: Path) -> None:
    """download_tokenizer_sync twice: each asyncio.run gets a fresh session, both work."""
    with HubSimulator().run_in_thread() as sim:
        sim.add_repo("org/small", {"vocab.txt": b"a\nb\nc\n", "config.json": b"{}"})
        strategy = NetworkAcquisition(tmp_path, options=options(sim), backoff=FAST)
        downloader = SmartTokenizerDownload.with_strategy(strategy)
        first = downloader.download_tokenizer_sync(
            TokenizerDownloadInfo("org/small", "one", ("vocab.txt",), expected_vocab=3))
        second = downloader.download_tokenizer_sync(
            TokenizerDownloadInfo("org/small", "two", ("config.json",)))
        assert len(sim.requests) == 2
    assert first.read_bytes() == b"a\nb\nc\n"
    assert second.read_bytes() == b"{}"
