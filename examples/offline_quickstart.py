"""Acquire a real tokenizer from a cache seeded by hand: no network, no aiohttp needed.

The tokenizer files come from the demo data shipped inside the package (all-MiniLM-L6-v2,
Apache-2.0), so this runs from an installed wheel anywhere:
``python examples/offline_quickstart.py``.
"""

from __future__ import annotations

import shutil
import tempfile
from importlib.resources import as_file, files
from pathlib import Path

from tokenizer_acquisition import SmartTokenizerDownload, TokenizerDownloadInfo, TokenizerNotFound

REPO = "sentence-transformers/all-MiniLM-L6-v2"


def main() -> None:
    info = TokenizerDownloadInfo(
        repo=REPO,
        cache_key="all-MiniLM-L6-v2",
        files=("tokenizer.json", "tokenizer_config.json", "vocab.txt"),
        expected_vocab=30522,
    )
    sample = files("tokenizer_acquisition").joinpath("demo_data", *REPO.split("/"))
    with tempfile.TemporaryDirectory(prefix="tokacq-quickstart-") as tmp:
        downloader = SmartTokenizerDownload.cache_only(tmp)
        print(downloader.acquisition_info().description)
        try:
            downloader.download_tokenizer_sync(info)
        except TokenizerNotFound as miss:
            print(f"1. empty cache -> {type(miss).__name__}; suggestion: {miss.suggestions[0]}")
        # What an operator does in an air-gapped deployment: place the files by hand.
        target = Path(tmp) / info.cache_key
        target.mkdir()
        for name in info.files:
            with as_file(sample.joinpath(name)) as source:
                shutil.copyfile(source, target / name)
        path = downloader.download_tokenizer_sync(info)
        print(f"2. after placing the files -> {path.name} in {path.parent.name}/ "
              f"(vocabulary {info.expected_vocab} checked)")


if __name__ == "__main__":
    main()
