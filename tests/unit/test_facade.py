"""SmartTokenizerDownload: one object, any strategy, typed results and errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from support.fakes import RecordingObserver, ScriptedAcquisition
from tokenizer_acquisition import SmartTokenizerDownload, TokenizerDownloadInfo, TokenizerNotFound

INFO = TokenizerDownloadInfo("org/name", "name", ("vocab.txt", "tokenizer.json"))


async def test_with_strategy_accepts_any_implementation_of_the_port(tmp_path: Path) -> None:
    """A hand-written strategy plugs in; the primary path comes back."""
    strategy = ScriptedAcquisition("mine", directory=tmp_path)
    downloader = SmartTokenizerDownload.with_strategy(strategy)
    assert await downloader.download_tokenizer(INFO) == tmp_path / "tokenizer.json"
    result = await downloader.acquire(INFO)
    assert result.strategy == "mine" and result.files["vocab.txt"] == tmp_path / "vocab.txt"


async def test_failures_are_reported_and_re_raised_typed() -> None:
    """The typed error reaches the caller and the observer sees a failed attempt."""
    observer = RecordingObserver()
    downloader = SmartTokenizerDownload(ScriptedAcquisition("cache-only"), observer=observer)
    with pytest.raises(TokenizerNotFound):
        await downloader.acquire(INFO)
    assert observer.events[-1].outcome == "failed"
    assert observer.events[-1].error_type == "TokenizerNotFound"


def test_sync_form_works_outside_a_loop_and_closes_the_strategy(tmp_path: Path) -> None:
    """download_tokenizer_sync runs its own loop and releases resources after."""
    strategy = ScriptedAcquisition("mine", directory=tmp_path)
    downloader = SmartTokenizerDownload(strategy)
    assert downloader.download_tokenizer_sync(INFO) == tmp_path / "tokenizer.json"
    assert strategy.closed == 1


async def test_sync_form_refuses_to_run_inside_a_running_loop(tmp_path: Path) -> None:
    """Inside a running loop the sync form raises a clear error instead of deadlocking."""
    downloader = SmartTokenizerDownload(ScriptedAcquisition("mine", directory=tmp_path))
    with pytest.raises(RuntimeError, match=r"await downloader\.download_tokenizer"):
        downloader.download_tokenizer_sync(INFO)
    assert asyncio.get_running_loop().is_running()


async def test_async_context_manager_closes_the_strategy(tmp_path: Path) -> None:
    """`async with` closes the strategy on exit."""
    strategy = ScriptedAcquisition("mine", directory=tmp_path)
    async with SmartTokenizerDownload(strategy) as downloader:
        await downloader.acquire(INFO)
    assert strategy.closed == 1


def test_acquisition_info_describes_availability_and_requirements() -> None:
    """acquisition_info answers before anything is downloaded."""
    downloader = SmartTokenizerDownload(ScriptedAcquisition("x", available=False, reason="nope"))
    info = downloader.acquisition_info()
    assert not info.available and info.requirements == ("x requirement",)
    assert info.strategies[0].reason == "nope"
    assert info.to_dict()["strategies"][0]["name"] == "x"


def test_default_constructor_reads_configuration_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SmartTokenizerDownload() honours TOKACQ_STRATEGY and TOKACQ_CACHE_DIR."""
    monkeypatch.setenv("TOKACQ_STRATEGY", "cache-only")
    monkeypatch.setenv("TOKACQ_CACHE_DIR", str(tmp_path))
    info = SmartTokenizerDownload().acquisition_info()
    assert info.strategies[0].name == "cache-only" and str(tmp_path) in info.description


def test_from_config_accepts_a_toml_file(tmp_path: Path) -> None:
    """from_config reads a TOML file."""
    config = tmp_path / "c.toml"
    config.write_text(f'strategy = "cache-only"\ncache_dir = "{tmp_path}"\n')
    assert SmartTokenizerDownload.from_config(config).strategy.name == "cache-only"
