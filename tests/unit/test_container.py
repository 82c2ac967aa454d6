"""The container wires the configured strategy; tests swap adapters through it."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest
from dependency_injector import providers

from support.fakes import ScriptedAcquisition
from support.seeding import seed
from tokenizer_acquisition import (
    AcquisitionUnavailable,
    CacheOnlyAcquisition,
    ConfigurationError,
    HybridAcquisition,
    SmartTokenizerDownload,
    StrategyStatus,
    TokenizerDownloadInfo,
)
from tokenizer_acquisition import container as container_module
from tokenizer_acquisition.container import build_container
from tokenizer_acquisition.domain.cache_policy import FileFacts
from tokenizer_acquisition.domain.vocab import count_vocab
from tokenizer_acquisition.domain.vocab_check import VocabChecker

HAS_AIOHTTP = importlib.util.find_spec("aiohttp") is not None
INFO = TokenizerDownloadInfo("org/name", "name", ("tokenizer.json",))


def test_cache_only_is_wired_from_configuration(tmp_path: Path) -> None:
    """strategy = cache-only gives a CacheOnlyAcquisition on the configured directory."""
    container = build_container({"strategy": "cache-only", "cache_dir": str(tmp_path)}, environ={})
    strategy = container.acquisition()
    assert isinstance(strategy, CacheOnlyAcquisition) and strategy.cache_dir == tmp_path


def test_default_is_a_hybrid_starting_with_the_cache(tmp_path: Path) -> None:
    """The default container builds hybrid: cache-only first, network after."""
    container = build_container(overrides={"cache_dir": str(tmp_path)}, environ={})
    strategy = container.acquisition()
    assert isinstance(strategy, HybridAcquisition)
    names = [s.name for s in strategy.strategies]
    assert names[0] == "cache-only" and names[-1] == "network"


def test_offline_hybrid_reports_network_unavailable_with_the_reason(tmp_path: Path) -> None:
    """Offline keeps hybrid usable and says why network is skipped."""
    container = build_container(overrides={"cache_dir": str(tmp_path)},
                                environ={"HF_HUB_OFFLINE": "1"})
    info = container.downloader().acquisition_info()
    network = next(s for s in info.strategies if s.name == "network")
    assert info.available and not network.available
    assert network.reason is not None
    if HAS_AIOHTTP:
        assert "HF_HUB_OFFLINE" in network.reason
    else:
        assert "not installed" in network.reason


async def test_providers_can_be_overridden_with_fakes(tmp_path: Path) -> None:
    """Tests swap a strategy by overriding its provider, not by patching internals."""
    container = build_container({"strategy": "cache-only", "cache_dir": str(tmp_path)}, environ={})
    fake = ScriptedAcquisition("cache-only", directory=tmp_path)
    with container.cache_only.override(providers.Object(fake)):
        downloader = container.downloader()
        assert await downloader.download_tokenizer(INFO) == tmp_path / "tokenizer.json"
    assert fake.calls == [INFO]


async def test_hybrid_order_comes_from_configuration(tmp_path: Path) -> None:
    """`strategies` sets the hybrid order; overridden parts are used in that order."""
    container = build_container({"strategies": ["network", "cache-only"],
                                 "cache_dir": str(tmp_path)}, environ={})
    first = ScriptedAcquisition("network", directory=tmp_path)
    with container.network_if_installed.override(providers.Object(first)):
        strategy = container.acquisition()
    assert isinstance(strategy, HybridAcquisition)
    assert [s.name for s in strategy.strategies] == ["network", "cache-only"]
    assert (await strategy.acquire(INFO)).strategy == "network"


def test_configuration_errors_surface_before_dependency_injector(tmp_path: Path) -> None:
    """An unknown strategy is our ConfigurationError, not the Selector's own error."""
    with pytest.raises(ConfigurationError) as err:
        build_container({"strategy": "netwrk"}, environ={})
    assert err.value.key == "strategy"


def test_strict_configuration_rejects_undefined_options(tmp_path: Path) -> None:
    """The container's Configuration is strict: an undefined option fails loudly."""
    container = build_container({"cache_dir": str(tmp_path)}, environ={})
    with pytest.raises(Exception, match="Undefined configuration option"):
        container.config.no_such_option()


def test_cache_only_container_never_builds_a_network_strategy(tmp_path: Path) -> None:
    """Choosing cache-only opens no HTTP session and builds no network adapter."""
    container = build_container({"strategy": "cache-only", "cache_dir": str(tmp_path)}, environ={})
    container.downloader()
    with container.network.override(providers.Callable(pytest.fail, "network was built")):
        container.acquisition()


@pytest.mark.skipif(HAS_AIOHTTP, reason="needs an environment without aiohttp")
def test_network_without_aiohttp_fails_when_the_container_is_built(tmp_path: Path) -> None:
    """Asking for network without the downloads extra fails at build time, with the fix."""
    with pytest.raises(AcquisitionUnavailable) as err:
        build_container({"strategy": "network", "cache_dir": str(tmp_path)}, environ={})
    assert err.value.strategy == "network"
    assert any("tokenizer-acquisition[downloads]" in r for r in err.value.requirements)
    with pytest.raises(AcquisitionUnavailable):
        SmartTokenizerDownload.with_downloads(tmp_path)


@pytest.mark.skipif(HAS_AIOHTTP, reason="needs an environment without aiohttp")
def test_hybrid_without_aiohttp_says_network_is_not_installed(tmp_path: Path) -> None:
    """The default hybrid still works, reporting network as not installed."""
    downloader = SmartTokenizerDownload.from_config({"cache_dir": str(tmp_path)})
    network = next(s for s in downloader.acquisition_info().strategies if s.name == "network")
    assert not network.available and "aiohttp is not installed" in (network.reason or "")


async def test_shutdown_resources_closes_the_chosen_strategy(tmp_path: Path) -> None:
    """The strategy (and its HTTP session) is a managed resource closed on shutdown."""
    container = build_container({"strategy": "cache-only", "cache_dir": str(tmp_path)}, environ={})
    fake = ScriptedAcquisition("cache-only", directory=tmp_path)
    with container.cache_only.override(providers.Object(fake)):
        await container.init_resources()
        assert await container.lifecycle() is fake
        await container.shutdown_resources()
    assert fake.closed == 1


async def test_init_resources_never_builds_an_unchosen_branch(tmp_path: Path) -> None:
    """init_resources() starts only the chosen strategy (no network for cache-only)."""
    container = build_container({"strategy": "cache-only", "cache_dir": str(tmp_path)}, environ={})
    with container.network.override(providers.Callable(pytest.fail, "network was built")), \
            container.network_if_installed.override(
                providers.Callable(pytest.fail, "network was built")):
        await container.init_resources()
        await container.shutdown_resources()


class CountingVocab(VocabChecker):
    """A real checker that counts the files it had to read (parse) to check a size."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def check(self, info: TokenizerDownloadInfo, facts: FileFacts,
                    read: Callable[[], bytes]) -> None:
        def counted() -> bytes:
            self.reads += 1
            return read()

        await super().check(info, facts, counted)


@pytest.mark.skipif(not HAS_AIOHTTP, reason="needs the downloads extra")
async def test_strategies_share_one_vocab_checker(tmp_path: Path, minilm_dir: Path) -> None:
    """A file the network strategy checked is not parsed again on the next cache-only hit."""
    seed(tmp_path, "minilm", minilm_dir, ("tokenizer.json",))
    vocab = count_vocab("tokenizer.json", (minilm_dir / "tokenizer.json").read_bytes())
    info = TokenizerDownloadInfo("org/minilm", "minilm", ("tokenizer.json",),
                                 expected_vocab=vocab)
    container = build_container({"cache_dir": str(tmp_path)}, environ={})
    checker = CountingVocab()
    with container.vocab.override(providers.Object(checker)):
        network, cache_only = container.network(), container.cache_only()
        assert (await network.acquire(info)).from_cache
        await cache_only.acquire(info)
        await network.aclose()
    assert checker.reads == 1


def test_every_strategy_gets_the_container_vocab_checker(tmp_path: Path) -> None:
    """cache-only, hf-cache and local-dir are all built with the one shared checker."""
    container = build_container({"cache_dir": str(tmp_path), "local_dir": str(tmp_path)},
                                environ={})
    shared = container.vocab()
    for strategy in (container.cache_only(), container.hf_cache(), container.local_dir()):
        assert strategy._vocab is shared, strategy.name


def test_configuration_holds_only_what_providers_read(tmp_path: Path) -> None:
    """No unread keys in the strict Configuration: the settings reach the container once,
    as the ``settings`` dependency, and the providers read that object (issue 13)."""
    container = build_container({"cache_dir": str(tmp_path), "offline": True,
                                 "lock_timeout": 5}, environ={})
    assert not container.config()
    assert container.cache_only().cache_dir == tmp_path
    for unread in ("offline", "lock_timeout", "strategies", "strategy", "cache_dir"):
        with pytest.raises(Exception, match="Undefined configuration option"):
            getattr(container.config, unread)()


def test_closing_is_the_facade_or_shutdown_resources_job() -> None:
    """No second, unused way to close a container (the facade's aclose() is the one)."""
    assert not hasattr(container_module, "shutdown")
    assert "shutdown(container)" not in (container_module.__doc__ or "")


class Composite(ScriptedAcquisition):
    """A user's own composite strategy: it reports its parts through statuses()."""

    def __init__(self, parts: list[ScriptedAcquisition]) -> None:
        super().__init__("mine")
        self.parts = parts

    def statuses(self) -> tuple[StrategyStatus, ...]:
        return tuple(StrategyStatus.of(part) for part in self.parts)


def test_any_composite_strategy_reports_its_parts() -> None:
    """acquisition_info() asks the port's statuses(): a single strategy reports itself,
    a composite of the user's own its parts (no isinstance check on the hybrid)."""
    single = SmartTokenizerDownload.with_strategy(ScriptedAcquisition("solo"))
    assert [s.name for s in single.acquisition_info().strategies] == ["solo"]
    parts = [ScriptedAcquisition("a"), ScriptedAcquisition("b", available=False)]
    info = SmartTokenizerDownload.with_strategy(Composite(parts)).acquisition_info()
    assert [(s.name, s.available, s.reason) for s in info.strategies] == \
        [("a", True, None), ("b", False, "switched off")]
