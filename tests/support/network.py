"""Shared setup for the network integration tests: the simulator, fast retries, fixtures."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from tokenizer_acquisition.domain.download_policy import Backoff
from tokenizer_acquisition.domain.options import NetworkOptions, Secret
from tokenizer_acquisition.strategies import NetworkAcquisition
from tokenizer_acquisition.testing import HubSimulator, RecordedRequest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MINILM = FIXTURES / "sentence-transformers" / "all-MiniLM-L6-v2"
BOTCHAN = FIXTURES / "sentencepiece" / "botchan-unigram-1000" / "tokenizer.model"
REPO = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json",
                "special_tokens_map.json", "config.json")
TOKEN = "hf_SimulatorSecretToken0123456789"
#: Retries in microseconds, so fault tests measure the protocol, not the sleeping.
FAST = Backoff(base=0.001, cap=0.01, max_server_delay=5.0)


def blob(size: int, seed: int = 7) -> bytes:
    """Deterministic incompressible bytes for multi-MB tests."""
    return random.Random(seed).randbytes(size)


def options(sim: HubSimulator, **overrides: Any) -> NetworkOptions:
    values: dict[str, Any] = {"endpoint": sim.endpoint, "trust_env": False, "max_retries": 3,
                              "connect_timeout": 2.0, "read_timeout": 5.0}
    values.update(overrides)
    if isinstance(values.get("token"), str):
        values["token"] = Secret(values["token"])
    return NetworkOptions(**values)


def network(sim: HubSimulator, cache: Path, **overrides: Any) -> NetworkAcquisition:
    return NetworkAcquisition(cache, options=options(sim, **overrides), backoff=FAST)


def body_gets(sim: HubSimulator, file: str) -> list[RecordedRequest]:
    """Requests that answered with bytes of ``file`` (hub or CDN)."""
    return sim.file_gets(file)


def bytes_sent(sim: HubSimulator, file: str) -> int:
    return sum(r.bytes_sent for r in sim.file_gets(file))


def manifest(cache: Path, key: str) -> dict[str, Any]:
    """The manifest of the key's current snapshot (``<cache>/<key>`` links to it)."""
    snapshot = (cache / key).resolve()
    data: dict[str, Any] = json.loads(snapshot.with_name(f"{snapshot.name}.json").read_text())
    return data


def published(cache: Path, key: str) -> list[str]:
    """The files the key shows (through its link to the current snapshot)."""
    directory = cache / key
    if not directory.is_dir():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


async def wait_for_partial(cache: Path, key: str, min_bytes: int) -> Path:
    """Poll (at most 10 s) until a partial download of ``key`` holds ``min_bytes``."""
    import asyncio

    async with asyncio.timeout(10.0):
        while True:
            found = partial_files(cache, key)
            if found and found[0].stat().st_size >= min_bytes:
                return found[0]
            await asyncio.sleep(0.01)


def partial_files(cache: Path, key: str) -> list[Path]:
    return sorted((cache / ".tokacq" / "partials" / key).glob("*.tokacq-partial"))
