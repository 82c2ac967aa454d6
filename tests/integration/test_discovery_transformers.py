"""The preset, decided by evidence: AutoTokenizer on the discovered directory, offline, matches
a full ``snapshot_download`` of the same repo from the same simulator (issue 11)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.network import network
from support.repo_shapes import BERT_REPO, GPT2_REPO, LLAMA_REPO, add_shapes
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.testing import HubSimulator, ThreadedHubSimulator

transformers = pytest.importorskip("transformers")
pytest.importorskip("huggingface_hub")
pytestmark = [pytest.mark.timeout(120),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

TEXTS = ["Hello world, this is a tiny tokenizer for tests.", "Über 9000 émojis 🤗 and  spaces",
         ""]
CONVERSATION = [{"role": "user", "content": "Hi there"},
                {"role": "assistant", "content": "Hello!"}]


@pytest.fixture(scope="module")
def sim() -> Iterator[HubSimulator]:
    with ThreadedHubSimulator(HubSimulator()) as simulator:
        add_shapes(simulator)
        yield simulator


def load(directory: Path) -> object:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)


@pytest.mark.parametrize("repo", [BERT_REPO, LLAMA_REPO, GPT2_REPO])
def test_discovered_directory_tokenizes_like_a_full_snapshot(
        sim: HubSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo: str) -> None:
    """Same class, encodings, special tokens and chat template; no weights downloaded."""
    import asyncio

    from huggingface_hub import snapshot_download

    async def discover() -> Path:
        strategy = network(sim, tmp_path / "cache")  # type: ignore[arg-type]
        try:
            result = await strategy.acquire(TokenizerDownloadInfo(repo=repo, cache_key="k"))
        finally:
            await strategy.aclose()
        return result.directory

    sim.clear()
    ours = asyncio.run(discover())
    assert not any("safetensors" in r.path or ".bin" in r.path for r in sim.requests)
    full = Path(snapshot_download(repo, cache_dir=tmp_path / "hf", endpoint=sim.endpoint,
                                  token=False))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    mine, theirs = load(ours), load(full)
    assert type(mine) is type(theirs)
    for text in TEXTS:
        assert mine(text)["input_ids"] == theirs(text)["input_ids"]  # type: ignore[operator]
    assert mine.all_special_tokens == theirs.all_special_tokens  # type: ignore[attr-defined]
    assert mine.chat_template == theirs.chat_template  # type: ignore[attr-defined]
    if theirs.chat_template is not None:  # type: ignore[attr-defined]
        assert mine.apply_chat_template(CONVERSATION, tokenize=False) == \
            theirs.apply_chat_template(CONVERSATION, tokenize=False)  # type: ignore[attr-defined]
    assert os.listdir(full) and not any(p.suffix == ".safetensors" for p in ours.iterdir())
