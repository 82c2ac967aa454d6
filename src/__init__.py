"""Get the tokenizer files an inference service needs, from the Hub, a mirror or a cache.

Importing this package loads neither aiohttp nor dependency-injector: a cache-only
service pays only for what it uses.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .container import build_container
    from .domain.cache_key import default_cache_key
    from .domain.errors import (
        AcquisitionError,
        AcquisitionUnavailable,
        AllStrategiesFailed,
        AuthenticationFailed,
        CacheKeyConflict,
        CacheKeyNotFound,
        CacheWriteError,
        ConfigurationError,
        EntryNotFound,
        GatedRepository,
        IntegrityError,
        InvalidRequest,
        ListingRefused,
        ListingUnavailable,
        LockTimeout,
        NetworkError,
        OfflineModeError,
        RateLimited,
        RepositoryNotFound,
        RevisionNotFound,
        TokenizerNotFound,
        VocabMismatch,
    )
    from .domain.hybrid import HybridAcquisition
    from .domain.lockfile import LockFile
    from .domain.request import TokenizerDownloadInfo
    from .domain.results import AcquisitionInfo, AcquisitionPlan, AcquisitionResult
    from .facade import SmartTokenizerDownload
    from .ports.acquisition import StrategyStatus, TokenizerAcquisition
    from .redaction import redact_secrets
    from .strategies import (
        CacheOnlyAcquisition,
        HfCacheAcquisition,
        LocalDirAcquisition,
        NetworkAcquisition,
    )

from ._version import __version__

# Silent until the application configures logging (as httpx, urllib3, huggingface_hub).
logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = {
    "AcquisitionError": "domain.errors",
    "AcquisitionInfo": "domain.results",
    "AcquisitionPlan": "domain.results",
    "AcquisitionResult": "domain.results",
    "AcquisitionUnavailable": "domain.errors",
    "AllStrategiesFailed": "domain.errors",
    "AuthenticationFailed": "domain.errors",
    "CacheKeyConflict": "domain.errors",
    "CacheKeyNotFound": "domain.errors",
    "CacheOnlyAcquisition": "strategies",
    "CacheWriteError": "domain.errors",
    "ConfigurationError": "domain.errors",
    "EntryNotFound": "domain.errors",
    "GatedRepository": "domain.errors",
    "HfCacheAcquisition": "strategies",
    "HybridAcquisition": "domain.hybrid",
    "IntegrityError": "domain.errors",
    "InvalidRequest": "domain.errors",
    "ListingRefused": "domain.errors",
    "ListingUnavailable": "domain.errors",
    "LocalDirAcquisition": "strategies",
    "LockFile": "domain.lockfile",
    "LockTimeout": "domain.errors",
    "NetworkAcquisition": "strategies",
    "NetworkError": "domain.errors",
    "OfflineModeError": "domain.errors",
    "RateLimited": "domain.errors",
    "RepositoryNotFound": "domain.errors",
    "RevisionNotFound": "domain.errors",
    "SmartTokenizerDownload": "facade",
    "StrategyStatus": "ports.acquisition",
    "TokenizerAcquisition": "ports.acquisition",
    "TokenizerDownloadInfo": "domain.request",
    "TokenizerNotFound": "domain.errors",
    "VocabMismatch": "domain.errors",
    "build_container": "container",
    "default_cache_key": "domain.cache_key",
    "redact_secrets": "redaction",
}


def __getattr__(name: str) -> Any:
    # Every public name is loaded on first use (issue 15: importing the package costs
    # about a millisecond; the facade, asyncio and the strategies load when used).
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tokenizer_acquisition' has no attribute {name!r}")
    from importlib import import_module

    loaded = import_module(f".{module}", __name__)
    if name == "SmartTokenizerDownload":
        loaded.use_composition_root(_configured_parts)
    value = getattr(loaded, name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def _configured_parts(config_file: Any = None, overrides: Any = None, *,
                      require_network: bool = False) -> dict[str, Any]:
    """What ``SmartTokenizerDownload()`` is built from: the composition root's
    ``configured_parts``, loaded on first use (with dependency-injector), so a service
    that passes its own strategy never loads the container."""
    from importlib import import_module

    root = import_module(".container", __name__)
    parts: dict[str, Any] = root.configured_parts(config_file, overrides,
                                                  require_network=require_network)
    return parts


__all__ = [
    "AcquisitionError",
    "AcquisitionInfo",
    "AcquisitionPlan",
    "AcquisitionResult",
    "AcquisitionUnavailable",
    "AllStrategiesFailed",
    "AuthenticationFailed",
    "CacheKeyConflict",
    "CacheKeyNotFound",
    "CacheOnlyAcquisition",
    "CacheWriteError",
    "ConfigurationError",
    "EntryNotFound",
    "GatedRepository",
    "HfCacheAcquisition",
    "HybridAcquisition",
    "IntegrityError",
    "InvalidRequest",
    "ListingRefused",
    "ListingUnavailable",
    "LocalDirAcquisition",
    "LockFile",
    "LockTimeout",
    "NetworkAcquisition",
    "NetworkError",
    "OfflineModeError",
    "RateLimited",
    "RepositoryNotFound",
    "RevisionNotFound",
    "SmartTokenizerDownload",
    "StrategyStatus",
    "TokenizerAcquisition",
    "TokenizerDownloadInfo",
    "TokenizerNotFound",
    "VocabMismatch",
    "__version__",
    "build_container",
    "default_cache_key",
    "redact_secrets",
]
