"""The composition root: one ``Settings`` in, the chosen strategy, observer, metrics and
facade out. Nothing in the package imports it back (only the command line, and the
package's lazy ``__getattr__`` on first configured build): the facade receives what it
needs, and is handed ``configured_parts`` (``use_composition_root``) when this module is
loaded.

The settings reach the container once, as the ``settings`` dependency; every provider
reads its values from that object. The strict ``config`` is kept (an undefined option
fails loudly) but nothing is put there.

Known dependency-injector pitfalls handled here: strategy names are validated by
``settings`` before the ``Selector`` sees them (an unknown key would raise the library's
own error), and the only ``Resource`` wraps the *selected* strategy, so
``init_resources()`` never builds an unchosen branch. The HTTP session itself is created
lazily by the network adapter on the first download (cache-only opens none) and closed
by ``await container.shutdown_resources()`` or the facade's ``aclose()``/``async with``.

All strategies share one ``VocabChecker``, so a file the network strategy just downloaded
(and counted) is not parsed again when ``cache-only`` serves it next.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from dependency_injector import containers, providers

from .adapters.in_memory_metrics import InMemoryMetrics
from .adapters.logging_observer import LoggingObserver
from .domain.hybrid import HybridAcquisition
from .domain.observers import FanOutObserver
from .domain.vocab_check import VocabChecker
from .facade import SmartTokenizerDownload, use_composition_root
from .ports.acquisition import TokenizerAcquisition
from .ports.events import AcquisitionObserver
from .settings import NETWORK_STRATEGIES, Settings, load_settings
from .strategies import (
    CacheOnlyAcquisition,
    HfCacheAcquisition,
    LocalDirAcquisition,
    NetworkAcquisition,
    aiohttp_installed,
    network_unavailable,
    require_aiohttp,
    require_s3,
    s3_installed,
    s3_unavailable,
)


def _network(settings: Settings, observer: AcquisitionObserver,
             vocab: VocabChecker) -> TokenizerAcquisition:
    return NetworkAcquisition(settings.cache_dir, options=settings.network, observer=observer,
                              lock_timeout=settings.lock_timeout, vocab=vocab)


def _optional_network(settings: Settings, observer: AcquisitionObserver,
                      vocab: VocabChecker) -> TokenizerAcquisition:
    return _network(settings, observer, vocab) if aiohttp_installed() else network_unavailable()


def _s3(settings: Settings, vocab: VocabChecker,
        delegate: TokenizerAcquisition | None = None) -> TokenizerAcquisition:
    """The bucket tier; in a hybrid it leads the fleet's Hub downloads through ``delegate``
    (the hybrid's own network strategy), alone (``strategy = "s3"``) it serves the bucket
    only."""
    if not s3_installed() or settings.s3 is None:
        return s3_unavailable()
    from .strategies import S3Acquisition

    usable = delegate if delegate is not None and delegate.is_available() else None
    return S3Acquisition(settings.cache_dir, options=settings.s3, delegate=usable,
                         network=settings.network, lock_timeout=settings.lock_timeout,
                         vocab=vocab)


def _hybrid(settings: Settings, observer: AcquisitionObserver,
            builders: Mapping[str, Callable[[], TokenizerAcquisition]]) -> HybridAcquisition:
    chosen = [builders[name]() for name in settings.strategies if name in builders]
    return HybridAcquisition(chosen, observer=observer)


async def _strategy_lifecycle(
        strategy: TokenizerAcquisition) -> AsyncIterator[TokenizerAcquisition]:
    """The managed resource: the chosen strategy, closed (HTTP session and all) on shutdown."""
    try:
        yield strategy
    finally:
        await strategy.aclose()


def _by_strategy_name(**providers_by_name: providers.Provider[Any]
                      ) -> dict[str, providers.Provider[Any]]:
    """Provider attribute names (``cache_only``) keyed by strategy name (``cache-only``)."""
    return {name.replace("_", "-"): provider for name, provider in providers_by_name.items()}


class Container(containers.DeclarativeContainer):
    """Wires the configured strategy; tests swap any provider with ``.override()``."""

    config = providers.Configuration(strict=True)
    settings = providers.Dependency(instance_of=Settings)

    metrics = providers.Singleton(InMemoryMetrics)
    log_events = providers.Singleton(LoggingObserver)
    observer = providers.Singleton(FanOutObserver, providers.List(log_events, metrics))

    vocab = providers.Singleton(VocabChecker)

    cache_only = providers.Singleton(CacheOnlyAcquisition, cache_dir=settings.provided.cache_dir,
                                     vocab=vocab)
    hf_cache = providers.Singleton(HfCacheAcquisition,
                                   hf_cache_dir=settings.provided.hf_cache_dir, vocab=vocab)
    # None (not configured) builds a strategy that says so; settings rejects it as the sole one.
    local_dir = providers.Singleton(LocalDirAcquisition, root=settings.provided.local_dir,
                                    vocab=vocab)
    network = providers.Singleton(_network, settings=settings, observer=observer, vocab=vocab)
    network_if_installed = providers.Singleton(_optional_network, settings=settings,
                                               observer=observer, vocab=vocab)
    s3 = providers.Singleton(_s3, settings=settings, vocab=vocab)
    s3_fleet = providers.Singleton(_s3, settings=settings, vocab=vocab,
                                   delegate=network_if_installed)
    hybrid = providers.Singleton(
        _hybrid,
        settings=settings,
        observer=observer,
        builders=providers.Callable(
            _by_strategy_name,
            cache_only=cache_only.provider,
            hf_cache=hf_cache.provider,
            local_dir=local_dir.provider,
            network=network_if_installed.provider,
            s3=s3_fleet.provider,
        ),
    )

    acquisition = providers.Selector(
        settings.provided.strategy,
        **_by_strategy_name(hybrid=hybrid, cache_only=cache_only, hf_cache=hf_cache,
                            local_dir=local_dir, network=network, s3=s3),
    )

    lifecycle = providers.Resource(_strategy_lifecycle, acquisition)

    downloader = providers.Singleton(
        SmartTokenizerDownload, strategy=acquisition, settings=settings, observer=observer,
        metrics=metrics)


def build_container(
    config_file: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    overrides_source: str = "overrides",
    require_network: bool = False,
) -> Container:
    """Load and validate settings (raising ``ConfigurationError``), then wire a container.

    Asking for the network strategy (or ``require_network``) on an install without
    aiohttp raises ``AcquisitionUnavailable`` here, not at download time; so does the s3
    strategy without its extra.
    """
    if require_network:  # before the settings: the missing extra is the first thing to fix
        require_aiohttp()
    settings = load_settings(config_file, overrides, environ, overrides_source=overrides_source)
    if settings.strategy in NETWORK_STRATEGIES:
        require_aiohttp()
    if settings.strategy == "s3":
        require_s3()
    container = Container()
    container.settings.override(providers.Object(settings))
    return container


def configured_parts(config_file: Any = None, overrides: Mapping[str, Any] | None = None,
                     *, require_network: bool = False) -> dict[str, Any]:
    """What ``SmartTokenizerDownload()`` and its configured constructors are built from:
    the keyword arguments the container's ``downloader`` provider passes."""
    container = build_container(config_file, overrides, require_network=require_network)
    return {"strategy": container.acquisition(), "settings": container.settings(),
            "observer": container.observer(), "metrics": container.metrics()}


use_composition_root(configured_parts)

__all__ = ["Container", "SmartTokenizerDownload", "build_container", "configured_parts"]

