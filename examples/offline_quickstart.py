"""Acquire a real tokenizer from a cache seeded by hand: no network, no aiohttp needed."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tokenizer_acquisition import SmartTokenizerDownload, TokenizerDownloadInfo, TokenizerNotFound

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "fixtures" / "sentence-transformers" / "all-MiniLM-L6-v2"


def main() -> None:
    info = TokenizerDownloadInfo(
        repo="sentence-transformers/all-MiniLM-L6-v2",
        cache_key="all-MiniLM-L6-v2",
        files=("tokenizer.json", "tokenizer_config.json", "vocab.txt"),
        expected_vocab=30522,
    )
    with tempfile.TemporaryDirectory(prefix="tokacq-quickstart-") as tmp:
        downloader = SmartTokenizerDownload.cache_only(tmp)
        print(downloader.acquisition_info().description)
        try:
            downloader.download_tokenizer_sync(info)
        except TokenizerNotFound as miss:
            print(f"1. empty cache -> {type(miss).__name__}; suggestion: {miss.suggestions[0]}")
        target = Path(tmp) / info.cache_key
        target.mkdir()
        for name in info.files:
            shutil.copyfile(SAMPLE / name, target / name)
        path = downloader.download_tokenizer_sync(info)
        print(f"2. after placing the files -> {path} (vocabulary {info.expected_vocab} checked)")


if __name__ == "__main__":
    main()
