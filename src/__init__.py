"""Get the tokenizer files an inference service needs, from the Hub, a mirror or a cache.

Importing this package loads neither aiohttp nor dependency-injector: a cache-only
service pays only for what it uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
from .domain.results import AcquisitionInfo, AcquisitionResult, StrategyStatus
from .facade import SmartTokenizerDownload
from .ports.acquisition import TokenizerAcquisition
from .strategies import CacheOnlyAcquisition, HfCacheAcquisition, LocalDirAcquisition

if TYPE_CHECKING:
    from .container import build_container
    from .redaction import redact_secrets
    from .strategies import NetworkAcquisition

from ._version import __version__

_LAZY = {
    "NetworkAcquisition": "strategies",
    "build_container": "container",
    "redact_secrets": "redaction",
}


def __getattr__(name: str) -> Any:
    # Loaded on first use: the container pulls in dependency-injector.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tokenizer_acquisition' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)


__all__ = [
    "AcquisitionError",
    "AcquisitionInfo",
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
    "redact_secrets",
]
