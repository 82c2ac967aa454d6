"""Strategies built without a directory resolve only that directory, nothing else."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from tokenizer_acquisition import CacheOnlyAcquisition, ConfigurationError, HfCacheAcquisition

#: A configuration that cannot load as a whole (network strategy while offline).
CONTRADICTION = {"TOKACQ_STRATEGY": "network", "HF_HUB_OFFLINE": "1"}


def test_cache_only_ignores_an_unrelated_contradiction(monkeypatch: pytest.MonkeyPatch) -> None:
    """CacheOnlyAcquisition() builds on the default cache dir despite a bad strategy setting."""
    for name, value in CONTRADICTION.items():
        monkeypatch.setenv(name, value)
    strategy = CacheOnlyAcquisition()
    expected = platformdirs.user_cache_dir("tokenizer-acquisition", appauthor=False)
    assert strategy.cache_dir == Path(expected)


def test_cache_only_reads_tokacq_cache_dir(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """TOKACQ_CACHE_DIR still chooses the default directory, validated as in a config."""
    for name, value in CONTRADICTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TOKACQ_CACHE_DIR", str(tmp_path))
    assert CacheOnlyAcquisition().cache_dir == tmp_path
    monkeypatch.setenv("TOKACQ_CACHE_DIR", "~no-such-user-tokacq/cache")
    with pytest.raises(ConfigurationError) as err:
        CacheOnlyAcquisition()
    assert err.value.source == "environment variable TOKACQ_CACHE_DIR"


def test_hf_cache_uses_the_hub_rule_only(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    """HfCacheAcquisition() follows HF_HUB_CACHE, whatever else is misconfigured."""
    for name, value in CONTRADICTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert HfCacheAcquisition().hf_cache_dir == tmp_path
