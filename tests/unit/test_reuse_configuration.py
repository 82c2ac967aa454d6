"""Configuring hf-cache and local-dir: keys, environment, defaults, errors, container wiring."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenizer_acquisition import (
    ConfigurationError,
    HybridAcquisition,
    SmartTokenizerDownload,
    TokenizerDownloadInfo,
)
from tokenizer_acquisition.container import build_container
from tokenizer_acquisition.settings import STRATEGY_NAMES, Settings, load_settings
from tokenizer_acquisition.strategies import HfCacheAcquisition, LocalDirAcquisition

INFO = TokenizerDownloadInfo("org/name", "name", ("tokenizer.json",))


def test_both_strategies_are_valid_names() -> None:
    """hf-cache and local-dir are strategy choices, listed when a name is wrong."""
    assert {"hf-cache", "local-dir"} <= set(STRATEGY_NAMES)
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"strategy": "hf_cache"}, environ={})
    assert "hf-cache" in caught.value.choices
    assert any("hf-cache" in s for s in caught.value.suggestions)


def test_hf_cache_dir_from_config_beats_the_hub_variables(tmp_path: Path) -> None:
    """An explicit hf_cache_dir wins over HF_HUB_CACHE and HF_HOME, and its source is kept."""
    settings = load_settings({"hf_cache_dir": str(tmp_path / "cfg")}, environ={
        "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HOME": str(tmp_path / "home")})
    assert settings.hf_cache_dir == tmp_path / "cfg"
    assert settings.sources["hf_cache_dir"] == "configuration mapping"


@pytest.mark.parametrize(("environ", "expected", "variable"), [
    ({"HF_HUB_CACHE": "/h/cache", "HF_HOME": "/h/home"}, "/h/cache", "HF_HUB_CACHE"),
    ({"HUGGINGFACE_HUB_CACHE": "/h/legacy", "HF_HOME": "/h/home"}, "/h/legacy",
     "HUGGINGFACE_HUB_CACHE"),
    ({"HF_HOME": "/h/home", "XDG_CACHE_HOME": "/h/xdg"}, "/h/home/hub", "HF_HOME"),
    ({"XDG_CACHE_HOME": "/h/xdg"}, "/h/xdg/huggingface/hub", "XDG_CACHE_HOME"),
])
def test_hf_cache_dir_default_follows_huggingface_hub(
        environ: dict[str, str], expected: str, variable: str) -> None:
    """HF_HUB_CACHE, else $HF_HOME/hub, else the XDG cache: the variable is the source."""
    settings = load_settings(environ=environ)
    assert settings.hf_cache_dir == Path(expected)
    assert settings.sources["hf_cache_dir"] == f"environment variable {variable}"


def test_hf_cache_dir_falls_back_to_the_home_cache(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    """With no variable at all: ~/.cache/huggingface/hub, and no source recorded."""
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = load_settings(environ={})
    assert settings.hf_cache_dir == tmp_path / ".cache" / "huggingface" / "hub"
    assert "hf_cache_dir" not in settings.sources


def test_the_environment_is_read_when_settings_are_built(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    """HF_HUB_CACHE set after import still counts: nothing is resolved at import time."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "late"))
    assert load_settings().hf_cache_dir == tmp_path / "late"
    assert Settings().hf_cache_dir == tmp_path / "late"


def test_local_dir_comes_from_config_or_tokacq_local_dir(tmp_path: Path) -> None:
    """local_dir is a path setting; TOKACQ_LOCAL_DIR overrides the file like other TOKACQ_*."""
    path = tmp_path / "tokacq.toml"
    path.write_text('local_dir = "/from/file"\n')
    assert load_settings(path, environ={}).local_dir == Path("/from/file")
    settings = load_settings(path, environ={"TOKACQ_LOCAL_DIR": "/from/env"})
    assert settings.local_dir == Path("/from/env")
    assert settings.sources["local_dir"] == "environment variable TOKACQ_LOCAL_DIR"
    assert load_settings(environ={}).local_dir is None


@pytest.mark.parametrize("key", ["hf_cache_dir", "local_dir"])
@pytest.mark.parametrize("value", [3, "", ["/a"]])
def test_bad_paths_name_key_value_and_source(key: str, value: object) -> None:
    """A non-string or empty path is a ConfigurationError naming the key, value and source."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings({key: value}, environ={})
    error = caught.value
    assert (error.key, error.value, error.source) == (key, value, "configuration mapping")


def test_choosing_local_dir_without_a_directory_is_a_configuration_error() -> None:
    """strategy = local-dir with no local_dir fails when the container is built."""
    with pytest.raises(ConfigurationError) as caught:
        build_container({"strategy": "local-dir"}, environ={})
    assert caught.value.key == "local_dir" and caught.value.source == "configuration mapping"
    assert any("TOKACQ_LOCAL_DIR" in s for s in caught.value.suggestions)


def test_default_order_includes_hf_cache_only_when_a_cache_exists(tmp_path: Path) -> None:
    """cache-only, hf-cache, network when the HF cache is there; without it, no hf-cache."""
    hub = tmp_path / "hub"
    assert load_settings(environ={"HF_HUB_CACHE": str(hub)}).strategies == (
        "cache-only", "network")
    hub.mkdir()
    assert load_settings(environ={"HF_HUB_CACHE": str(hub)}).strategies == (
        "cache-only", "hf-cache", "network")


def test_an_explicit_order_may_list_local_dir(tmp_path: Path) -> None:
    """strategies = [..., "local-dir"] is accepted as written, hf-cache or not."""
    (tmp_path / "hub").mkdir()
    settings = load_settings({"strategies": ["local-dir", "cache-only"]},
                             environ={"HF_HUB_CACHE": str(tmp_path / "hub")})
    assert settings.strategies == ("local-dir", "cache-only")


def test_container_wires_hf_cache_on_the_configured_directory(tmp_path: Path) -> None:
    """strategy = hf-cache gives an HfCacheAcquisition reading hf_cache_dir."""
    container = build_container({"strategy": "hf-cache", "hf_cache_dir": str(tmp_path)},
                                environ={})
    strategy = container.acquisition()
    assert isinstance(strategy, HfCacheAcquisition) and strategy.hf_cache_dir == tmp_path
    assert strategy.is_available() and not strategy.uses_network


def test_container_wires_local_dir_on_the_configured_directory(tmp_path: Path) -> None:
    """strategy = local-dir gives a LocalDirAcquisition on local_dir."""
    container = build_container({"strategy": "local-dir"},
                                environ={"TOKACQ_LOCAL_DIR": str(tmp_path)})
    strategy = container.acquisition()
    assert isinstance(strategy, LocalDirAcquisition) and strategy.root == tmp_path


def test_hybrid_reports_why_reuse_strategies_are_unavailable(tmp_path: Path) -> None:
    """A listed local-dir without a directory, and a missing HF cache, are skipped with reasons."""
    container = build_container({
        "strategies": ["cache-only", "hf-cache", "local-dir"],
        "cache_dir": str(tmp_path / "cache"), "hf_cache_dir": str(tmp_path / "no-hub"),
    }, environ={})
    strategy = container.acquisition()
    assert isinstance(strategy, HybridAcquisition)
    statuses = {s.name: s for s in container.downloader().acquisition_info().strategies}
    assert list(statuses) == ["cache-only", "hf-cache", "local-dir"]
    assert not statuses["hf-cache"].available
    assert str(tmp_path / "no-hub") in (statuses["hf-cache"].reason or "")
    assert not statuses["local-dir"].available
    assert "local_dir is not configured" in (statuses["local-dir"].reason or "")


async def test_hybrid_serves_from_local_dir_after_a_cache_miss(tmp_path: Path) -> None:
    """A configured order reaches local-dir when our cache misses; no network strategy needed."""
    bundle = tmp_path / "bundle" / "org" / "name"
    bundle.mkdir(parents=True)
    (bundle / "tokenizer.json").write_text('{"model": {"vocab": {"a": 0}}}')
    downloader = SmartTokenizerDownload.from_config({
        "strategies": ["cache-only", "local-dir"], "cache_dir": str(tmp_path / "cache"),
        "local_dir": str(tmp_path / "bundle")})
    result = await downloader.acquire(INFO)
    assert result.strategy == "local-dir" and result.path == bundle / "tokenizer.json"
