"""Cache hits are cheap and read-only: no request, no write, no lock, no aiohttp."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.hf_cache_layout import tree_state
from support.network import FAST, MINILM, MINILM_FILES, REPO, options
from support.sandbox import run_read_only
from support.seeding import current_snapshot
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.strategies import NetworkAcquisition
from tokenizer_acquisition.testing import HubSimulator

KEY = "minilm"
FILES = ",".join(MINILM_FILES)

HIT = textwrap.dedent("""
    import asyncio, json, sys
    from tokenizer_acquisition import SmartTokenizerDownload, TokenizerDownloadInfo
    from tokenizer_acquisition.strategies import NetworkAcquisition

    cache, endpoint, how, files = sys.argv[1:5]
    info = TokenizerDownloadInfo("sentence-transformers/all-MiniLM-L6-v2", "minilm",
                                 tuple(files.split(",")), expected_vocab=30522)

    async def main():
        if how == "network":
            strategy = NetworkAcquisition(cache, endpoint=endpoint, trust_env=False)
            downloader = SmartTokenizerDownload.with_strategy(strategy)
        elif how == "hybrid":
            downloader = SmartTokenizerDownload()  # the default, from TOKACQ_/HF_ variables
        else:
            downloader = SmartTokenizerDownload.cache_only(cache)
        async with downloader:
            result = await downloader.acquire(info)
        print(json.dumps({"path": str(result.path), "from_cache": result.from_cache,
                          "strategy": result.strategy, "aiohttp": "aiohttp" in sys.modules}))

    asyncio.run(main())
""")


@pytest.fixture
def sim() -> Iterator[HubSimulator]:
    simulator = HubSimulator()
    simulator.add_repo_from_dir(REPO, MINILM, lfs=["tokenizer.json"])
    with simulator.run_in_thread() as running:
        yield running


@pytest.fixture
def warm_cache(sim: HubSimulator, tmp_path: Path) -> Path:
    """A cache filled by a real download (files, manifest, lock file), then forgotten."""
    cache = tmp_path / "cache"
    strategy = NetworkAcquisition(cache, options=options(sim), backoff=FAST)

    async def fill() -> None:
        try:
            await strategy.acquire(TokenizerDownloadInfo(REPO, KEY, MINILM_FILES))
        finally:
            await strategy.aclose()

    asyncio.run(fill())
    sim.clear()
    return cache


def env_for(cache: Path, sim: HubSimulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TOKACQ_"))}
    env.update(TOKACQ_CACHE_DIR=str(cache), HF_ENDPOINT=sim.endpoint,
               HF_HOME=str(cache.parent / "no-hf-home"))
    return env


def last_json(stdout: str) -> dict[str, object]:
    """The script's own line (structlog's default output may precede it)."""
    data: dict[str, object] = json.loads(stdout.strip().splitlines()[-1])
    return data


@pytest.mark.parametrize("how", ["network", "hybrid"])
def test_hit_on_a_read_only_cache(how: str, sim: HubSimulator, warm_cache: Path) -> None:
    """A read-only mount of a warm cache: served, zero requests, the tree unchanged."""
    before = tree_state(warm_cache)
    done = run_read_only([warm_cache], [sys.executable, "-c", HIT, str(warm_cache),
                                        sim.endpoint, how, FILES],
                         env=env_for(warm_cache, sim))
    assert done.returncode == 0, done.stderr
    out = last_json(done.stdout)
    assert out["path"] == str(current_snapshot(warm_cache, KEY) / "tokenizer.json")
    assert out["from_cache"] is True
    assert sim.requests == []
    assert tree_state(warm_cache) == before


def test_cache_only_process_never_imports_aiohttp(sim: HubSimulator, warm_cache: Path) -> None:
    """A cache-only acquisition in a fresh process leaves aiohttp out of sys.modules."""
    done = subprocess.run([sys.executable, "-c", HIT, str(warm_cache), sim.endpoint,
                           "cache-only", FILES], env=env_for(warm_cache, sim),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = last_json(done.stdout)
    assert out["strategy"] == "cache-only" and out["aiohttp"] is False
