"""Filling a cache by hand, the way an operator fills an air-gapped one."""

from __future__ import annotations

import shutil
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MINILM = FIXTURES / "sentence-transformers" / "all-MiniLM-L6-v2"
BOTCHAN = FIXTURES / "sentencepiece" / "botchan-unigram-1000"


def seed(cache_root: Path, cache_key: str, source: Path, files: tuple[str, ...]) -> Path:
    """Copy ``files`` from ``source`` into ``<cache_root>/<cache_key>/``."""
    target = cache_root / cache_key
    target.mkdir(parents=True, exist_ok=True)
    for name in files:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target / name)
    return target
