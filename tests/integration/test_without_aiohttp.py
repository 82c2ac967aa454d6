"""Without the downloads extra: cache-only and hybrid-from-cache work; network says why not."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from support.seeding import seed
from tokenizer_acquisition import (
    AcquisitionUnavailable,
    SmartTokenizerDownload,
    TokenizerDownloadInfo,
)
from tokenizer_acquisition.container import build_container

pytestmark = [
    pytest.mark.cache_only,
    pytest.mark.skipif(importlib.util.find_spec("aiohttp") is not None,
                       reason="runs in the CI environment without aiohttp"),
]

INFO = TokenizerDownloadInfo("sentence-transformers/all-MiniLM-L6-v2", "minilm",
                             ("tokenizer.json", "vocab.txt"), expected_vocab=30522)


async def test_default_hybrid_serves_a_cached_tokenizer(cache_dir: Path, minilm_dir: Path) -> None:
    """The default configuration works from the cache with no aiohttp installed."""
    seed(cache_dir, "minilm", minilm_dir, INFO.files)
    downloader = SmartTokenizerDownload.from_config({"cache_dir": str(cache_dir)})
    result = await downloader.acquire(INFO)
    assert result.strategy == "cache-only" and result.path.name == "tokenizer.json"
    assert "aiohttp" not in sys.modules


def test_network_strategy_fails_at_build_time_with_the_install_command(cache_dir: Path) -> None:
    """NetworkAcquisition, with_downloads and strategy=network all fail when built."""
    from tokenizer_acquisition import NetworkAcquisition

    for build in (lambda: NetworkAcquisition(cache_dir),
                  lambda: SmartTokenizerDownload.with_downloads(cache_dir),
                  lambda: build_container({"strategy": "network"}, environ={})):
        with pytest.raises(AcquisitionUnavailable) as err:
            build()
        assert "pip install 'tokenizer-acquisition[downloads]'" in err.value.requirements
