"""Shared fixtures: real tokenizer files, an isolated environment, seeded caches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.seeding import BOTCHAN, MINILM

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
