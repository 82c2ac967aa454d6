"""Reuse what the real huggingface_hub client downloaded: read back through hf-cache, offline.

The cache is filled by ``hf_hub_download`` against the Hub simulator on 127.0.0.1/.2; every
read-back then asserts that not one request reached the simulator.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tokenizer_acquisition import (
    SmartTokenizerDownload,
    TokenizerDownloadInfo,
    TokenizerNotFound,
)
from tokenizer_acquisition.container import build_container
from tokenizer_acquisition.testing import HubSimulator, ThreadedHubSimulator

pytestmark = pytest.mark.timeout(60)

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
FIXTURE_DIR = Path(__file__).parents[1] / "fixtures" / "sentence-transformers" / "all-MiniLM-L6-v2"
FILES = ("tokenizer.json", "tokenizer_config.json")
RELEASE_CONFIG = b'{"model_max_length": 128}'


@dataclass
class Filled:
    sim: HubSimulator
    hub: Path
    main: str
    release: str


def download(sim: HubSimulator, hub: Path, files: tuple[str, ...], revision: str) -> None:
    from huggingface_hub import hf_hub_download

    for name in files:
        hf_hub_download(MINILM, name, revision=revision, cache_dir=hub,
                        endpoint=sim.endpoint, token=False, etag_timeout=5)


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[Filled]:
    """A real HF cache holding MiniLM at main, and a 'release/v1' branch with another config."""
    hub = tmp_path / "hf" / "hub"
    with ThreadedHubSimulator(HubSimulator()) as sim:
        main = sim.add_repo_from_dir(MINILM, FIXTURE_DIR, lfs=["tokenizer.json"])
        release = sim.add_repo(MINILM, {**{name: (FIXTURE_DIR / name).read_bytes()
                                            for name in FILES},
                                         "tokenizer_config.json": RELEASE_CONFIG},
                               revision="release/v1", lfs=["tokenizer.json"])
        download(sim, hub, FILES, "main")
        download(sim, hub, FILES, "release/v1")
        assert any(r.method == "GET" for r in sim.requests)  # the fill really used the wire
        sim.clear()
        yield Filled(sim, hub, main, release)


def minilm(revision: str = "main", **changes: object) -> TokenizerDownloadInfo:
    fields: dict[str, object] = {"repo": MINILM, "cache_key": "minilm", "files": FILES,
                                 "revision": revision}
    fields.update(changes)
    return TokenizerDownloadInfo(**fields)  # type: ignore[arg-type]


async def test_hf_cache_serves_the_downloaded_files_without_a_request(filled: Filled) -> None:
    """from_config(strategy=hf-cache) returns huggingface_hub's snapshot files, zero requests."""
    tokenizer = (FIXTURE_DIR / "tokenizer.json").read_bytes()
    downloader = SmartTokenizerDownload.from_config(
        {"strategy": "hf-cache", "hf_cache_dir": str(filled.hub)})
    result = await downloader.acquire(minilm(
        expected_vocab=30522, sha256={"tokenizer.json": hashlib.sha256(tokenizer).hexdigest()}))
    assert result.strategy == "hf-cache" and result.from_cache and result.bytes_downloaded == 0
    assert result.commit == filled.main
    assert result.directory == filled.hub / f"models--{MINILM.replace('/', '--')}" / "snapshots" \
        / filled.main
    assert result.path.read_bytes() == tokenizer
    assert filled.sim.requests == []


async def test_a_branch_with_a_slash_and_a_pinned_commit_are_honoured(filled: Filled) -> None:
    """refs/release/v1 and a 40-hex revision each select their own snapshot; no requests."""
    downloader = SmartTokenizerDownload.from_config(
        {"strategy": "hf-cache", "hf_cache_dir": str(filled.hub)})
    release = await downloader.acquire(minilm("release/v1"))
    assert release.commit == filled.release
    assert release.files["tokenizer_config.json"].read_bytes() == RELEASE_CONFIG
    pinned = await downloader.acquire(minilm(filled.main))
    assert pinned.commit == filled.main
    assert pinned.files["tokenizer_config.json"].read_bytes() == (
        FIXTURE_DIR / "tokenizer_config.json").read_bytes()
    assert filled.sim.requests == []


async def test_default_hybrid_uses_the_hf_cache_before_the_network(
        filled: Filled, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With HF_HUB_CACHE present the default order is cache-only, hf-cache, network."""
    monkeypatch.setenv("HF_HUB_CACHE", str(filled.hub))
    container = build_container({"cache_dir": str(tmp_path / "ours"),
                                 "network": {"endpoint": filled.sim.endpoint}})
    assert container.settings().strategies == ("cache-only", "hf-cache", "network")
    result = await container.downloader().acquire(minilm())
    await container.downloader().aclose()
    assert result.strategy == "hf-cache" and result.commit == filled.main
    assert filled.sim.requests == []


async def test_a_moved_branch_never_borrows_from_the_old_snapshot(filled: Filled) -> None:
    """main moves and only tokenizer.json is re-fetched: the config is missing, not stale-served."""
    filled.sim.replace_file(MINILM, "tokenizer.json", b'{"model": {"vocab": {"a": 0}}}')
    download(filled.sim, filled.hub, ("tokenizer.json",), "main")
    filled.sim.clear()
    downloader = SmartTokenizerDownload.from_config(
        {"strategy": "hf-cache", "hf_cache_dir": str(filled.hub)})
    with pytest.raises(TokenizerNotFound) as caught:
        await downloader.acquire(minilm())
    assert caught.value.missing_files == ("tokenizer_config.json",)
    assert filled.sim.requests == []
