"""``download_tokenizer_sync`` from many threads on one facade (issue 10, item 13)."""

from __future__ import annotations

import gc
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from support.network import MINILM, REPO, network
from tokenizer_acquisition import SmartTokenizerDownload, TokenizerDownloadInfo
from tokenizer_acquisition.testing import HubSimulator, ThreadedHubSimulator

pytestmark = pytest.mark.timeout(60)

FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json")


def test_sixteen_calls_from_eight_threads_share_one_facade(tmp_path: Path) -> None:
    """8 threads x 2 calls: every call returns the file; no loop error, no unclosed session.

    Warnings are errors in this suite, so an "Unclosed client session" (a ResourceWarning
    raised when a session is collected) fails the test at the ``gc.collect()`` below.
    """
    hub = HubSimulator()
    hub.add_repo_from_dir(REPO, MINILM, lfs=["tokenizer.json"])
    with ThreadedHubSimulator(hub) as sim:
        downloader = SmartTokenizerDownload.with_strategy(network(sim, tmp_path))
        # Half the threads share a cache key (one download, the others wait for it), half
        # have their own.
        requests = [TokenizerDownloadInfo(REPO, f"key-{i % 5}", FILES, expected_vocab=30522)
                    for i in range(8)]
        start = threading.Barrier(8)

        def twice(info: TokenizerDownloadInfo) -> list[Path]:
            start.wait()
            return [downloader.download_tokenizer_sync(info) for _ in range(2)]

        with ThreadPoolExecutor(8) as pool:
            paths = [p for ps in pool.map(twice, requests) for p in ps]
        assert len(paths) == 16
        assert all(p.name == "tokenizer.json" and p.read_bytes() ==
                   (MINILM / "tokenizer.json").read_bytes() for p in paths)
        # One download per key at most: 5 keys, so at most 5 GETs of the tokenizer.
        assert len(sim.file_gets("tokenizer.json")) <= 5
        # After the burst nothing stays open; a later call works on a fresh session.
        assert downloader.download_tokenizer_sync(requests[0]).exists()
    gc.collect()


def test_the_sync_form_still_refuses_a_running_loop(tmp_path: Path) -> None:
    """Inside a running event loop the caller is told to await instead."""
    import asyncio

    downloader = SmartTokenizerDownload.cache_only(tmp_path)
    info = TokenizerDownloadInfo(REPO, "k", ("tokenizer.json",))

    async def inside() -> None:
        with pytest.raises(RuntimeError, match=r"await downloader\.download_tokenizer"):
            downloader.download_tokenizer_sync(info)

    asyncio.run(inside())
