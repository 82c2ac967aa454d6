"""Shared fixtures: real tokenizer files, an isolated environment, seeded caches."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
MINILM = FIXTURES / "sentence-transformers" / "all-MiniLM-L6-v2"
BOTCHAN = FIXTURES / "sentencepiece" / "botchan-unigram-1000"

_ENV_PREFIXES = ("TOKACQ_", "HF_", "HUGGING_FACE_", "TRANSFORMERS_")


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
                         ) -> Iterator[None]:
    """No test sees the machine's Hub token, offline switches or real caches."""
    import os

    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HF_HOME", str(home / "huggingface"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    yield


@pytest.fixture
def minilm_dir() -> Path:
    return MINILM


@pytest.fixture
def botchan_dir() -> Path:
    return BOTCHAN


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir()
    return path


def seed(cache_root: Path, cache_key: str, source: Path, files: tuple[str, ...]) -> Path:
    """Place files by hand, the way an operator fills an air-gapped cache."""
    target = cache_root / cache_key
    target.mkdir(parents=True, exist_ok=True)
    for name in files:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target / name)
    return target
