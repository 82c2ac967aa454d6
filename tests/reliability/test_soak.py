"""Randomised server faults under load: 8 worker processes share one cache.

The short run (100 acquisitions of 10 tokenizers) is part of the normal suite; the full
one (1,000 acquisitions of 50 tokenizers) runs with ``pytest -m soak``.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from reliability.conftest import Results
from reliability.harness import child_env, sha256
from support.network import blob
from tokenizer_acquisition.adapters.cache_inventory import CacheInventory
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
from tokenizer_acquisition.testing import (
    Corrupt,
    HubSimulator,
    IgnoreRange,
    ResetAfter,
    SlowDrip,
    Status,
    Truncate,
)

COMMAND_SHORT = "pytest tests/reliability/test_soak.py -k short"
COMMAND_SOAK = "pytest -m soak tests/reliability/test_soak.py"
SEED = 20_261_127
WORKERS = 8
FAULT_RATE = 0.05
KINDS = (ResetAfter(4096), Truncate(4096), Status(500), Status(503),
         Status(429, {"Retry-After": "0"}), IgnoreRange(), SlowDrip(16_384, 0.001), Corrupt())
FILES = ("tokenizer.json", "tokenizer_config.json")
#: Each worker acquires its jobs in turn; some first evict the key (under its lock) so
#: downloads keep happening after the first round has filled the cache.
WORKER = """
import asyncio, hashlib, json, sys
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.adapters.cache_inventory import CacheInventory
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
from tokenizer_acquisition.domain.download_policy import Backoff
from tokenizer_acquisition.domain.errors import AcquisitionError
from tokenizer_acquisition.strategies import NetworkAcquisition

async def main(cache, endpoint, jobs):
    strategy = NetworkAcquisition(cache, endpoint=endpoint, trust_env=False, max_retries=3,
                                  read_timeout=10, lock_timeout=60,
                                  backoff=Backoff(base=0.001, cap=0.01, max_server_delay=1))
    inventory = CacheInventory(FileSystemCache(cache), lock_timeout=60)
    for repo, key, evict in json.loads(jobs):
        out = {"repo": repo, "key": key}
        try:
            if evict and key in inventory.keys():
                inventory.prune(key)
            for _ in range(5):
                result = await strategy.acquire(TokenizerDownloadInfo(repo, key, FILES))
                try:  # hits take no lock: another worker may evict the key before we read
                    out["files"] = {n: hashlib.sha256(p.read_bytes()).hexdigest()
                                    for n, p in result.files.items()}
                    break
                except FileNotFoundError:
                    out["reread"] = out.get("reread", 0) + 1
            out["ok"] = "files" in out
            out["bytes"] = result.bytes_downloaded
        except AcquisitionError as error:
            out.update(ok=False, typed=True, type=type(error).__name__, message=error.message)
        except Exception as error:
            out.update(ok=False, typed=False, type=type(error).__name__, message=str(error))
        print(json.dumps(out), flush=True)
    await strategy.aclose()

asyncio.run(main(*sys.argv[1:]))
""".replace("FILES", repr(FILES))


def _tokenizers(count: int) -> dict[str, dict[str, bytes]]:
    rng = random.Random(SEED)
    made = {}
    for index in range(count):
        size = rng.randrange(2_000, 200_000)
        made[f"org/tok{index:02d}"] = {
            "tokenizer.json": blob(size, seed=SEED + index),
            "tokenizer_config.json": json.dumps({"index": index}).encode(),
        }
    return made


async def _soak(cache: Path, tokenizers: int, acquisitions: int) -> dict[str, Any]:
    sources = _tokenizers(tokenizers)
    rng = random.Random(SEED)
    jobs = [(repo, repo.split("/")[1], rng.random() < 0.3)
            for repo in (rng.choice(sorted(sources)) for _ in range(acquisitions))]
    async with HubSimulator() as sim:
        for index, (repo, files) in enumerate(sorted(sources.items())):
            sim.add_repo(repo, files, lfs=["tokenizer.json"] if index % 3 == 0 else [])
        sim.random_faults(FAULT_RATE, SEED, KINDS)

        async def worker(share: list[tuple[str, str, bool]]) -> list[dict[str, Any]]:
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-c", WORKER, str(cache), sim.endpoint, json.dumps(share),
                env=child_env(), stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            out, err = await child.communicate()
            lines = [json.loads(line) for line in out.decode().splitlines()
                     if line.startswith("{")]
            if len(lines) != len(share):  # a crash: report the missing jobs as untyped
                lines += [{"ok": False, "typed": False, "type": "crash",
                           "message": err.decode()[-500:]}] * (len(share) - len(lines))
            return lines

        outcomes = [o for batch in await asyncio.gather(
            *(worker(jobs[w::WORKERS]) for w in range(WORKERS))) for o in batch]
        faults = sum(1 for r in sim.requests if r.fault)
    expected = {repo: {n: sha256(d) for n, d in files.items()}
                for repo, files in sources.items()}
    successes = [o for o in outcomes if o["ok"]]
    identical = [o for o in successes if o["files"] == expected[o["repo"]]]
    typed = [o for o in outcomes if not o["ok"] and o.get("typed")]
    verdict = CacheInventory(FileSystemCache(cache)).verify()
    lost = sum(len(sources[o["repo"]]["tokenizer.json"]) for o in successes
               if o not in identical)
    lost += sum(1 for _ in verdict.problems)
    return {"outcomes": outcomes, "successes": len(successes), "identical": len(identical),
            "typed_failures": len(typed), "faults": faults, "problems": verdict.problems,
            "lost": lost}


def _check(report: dict[str, Any], scenario: str, command: str, results: Results) -> None:
    outcomes = report["outcomes"]
    passed = report["identical"] + report["typed_failures"]
    results.add(scenario, runs=len(outcomes), passed=passed, bytes_lost=report["lost"],
                command=command)
    untyped = [o for o in outcomes if not o["ok"] and not o.get("typed")]
    assert not untyped, [(o.get("type"), o.get("message")) for o in untyped[:5]]
    assert report["identical"] == report["successes"], "a success differed from its source"
    assert not report["problems"], report["problems"]
    assert report["faults"] > 0, "no fault was injected: the run proves nothing"
    assert report["successes"] >= len(outcomes) * 0.8, (
        report["successes"], [o for o in outcomes if not o["ok"]][:5])


def test_short_randomised_faults_run(tmp_path: Path, results: Results) -> None:
    """100 acquisitions of 10 tokenizers, 8 processes, 5% faults: exact bytes or typed errors."""
    report = asyncio.run(_soak(tmp_path / "cache", tokenizers=10, acquisitions=100))
    _check(report, "randomised faults 5%, 8 workers (short: 100 x 10 tokenizers)",
           COMMAND_SHORT, results)


@pytest.mark.soak
@pytest.mark.timeout(900)
def test_soak_randomised_faults(tmp_path: Path, results: Results) -> None:
    """1,000 acquisitions of 50 tokenizers, 8 processes, 5% faults: the same promises hold."""
    report = asyncio.run(_soak(tmp_path / "cache", tokenizers=50, acquisitions=1000))
    _check(report, "randomised faults 5%, 8 workers (soak: 1,000 x 50 tokenizers)",
           COMMAND_SOAK, results)
