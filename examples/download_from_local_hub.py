"""Download through the network strategy from a local Hub, then hit the cache.

The Hub is the simulator shipped in ``tokenizer_acquisition.testing``, serving the demo
data inside the package on loopback: no internet needed, but the ``downloads`` extra
(aiohttp) is. The library prints nothing itself; this script turns its INFO events on
with plain ``logging`` to show what happened:
``python examples/download_from_local_hub.py``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from importlib.resources import as_file, files

from tokenizer_acquisition import SmartTokenizerDownload, TokenizerDownloadInfo
from tokenizer_acquisition.testing import HubSimulator

REPO = "sentence-transformers/all-MiniLM-L6-v2"


async def main() -> None:
    logging.basicConfig(stream=sys.stderr, format="log: %(name)s %(message)s")
    logging.getLogger("tokenizer_acquisition").setLevel(logging.INFO)
    info = TokenizerDownloadInfo(repo=REPO, cache_key="minilm", expected_vocab=30522)
    with as_file(files("tokenizer_acquisition").joinpath("demo_data", *REPO.split("/"))) \
            as sample, tempfile.TemporaryDirectory(prefix="tokacq-hub-") as cache:
        async with HubSimulator() as hub:
            hub.add_repo_from_dir(REPO, sample)
            async with SmartTokenizerDownload.with_downloads(cache, endpoint=hub.endpoint) \
                    as downloader:
                first = await downloader.acquire(info)   # no files named: discovered
                print(f"1. {first.strategy}: {sorted(first.files)} "
                      f"({first.bytes_downloaded} bytes, commit {first.commit})")
                again = await downloader.acquire(info)
                print(f"2. {again.strategy}: from cache={again.from_cache}, "
                      f"{again.bytes_downloaded} bytes downloaded")


if __name__ == "__main__":
    asyncio.run(main())
