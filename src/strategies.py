"""Public, ready-to-use strategies: the domain's policies plugged into this machine's adapters.

This module is part of the composition layer (with the container and the facade): it is
the only public place besides them that names adapters.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .adapters.filesystem_cache import FileSystemCache
from .domain.errors import AcquisitionUnavailable
from .domain.hybrid import HybridAcquisition
from .domain.local import LocalAcquisition
from .domain.unavailable import UnavailableAcquisition

DOWNLOADS_EXTRA = "pip install 'tokenizer-acquisition[downloads]'"

__all__ = ["CacheOnlyAcquisition", "HybridAcquisition", "aiohttp_installed",
           "network_unavailable"]


def aiohttp_installed() -> bool:
    """Checked without importing aiohttp, so cache-only processes never load it."""
    return importlib.util.find_spec("aiohttp") is not None


def network_unavailable() -> UnavailableAcquisition:
    return UnavailableAcquisition(
        "network", "aiohttp is not installed (the 'downloads' extra)", [DOWNLOADS_EXTRA],
        uses_network=True)


def require_aiohttp() -> None:
    """Fail at build time, not download time, when the downloads extra is missing."""
    if not aiohttp_installed():
        raise AcquisitionUnavailable(
            "network", [DOWNLOADS_EXTRA],
            reason="aiohttp is not installed (the 'downloads' extra)")


def _cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from .settings import load_settings

    return load_settings().cache_dir


class CacheOnlyAcquisition(LocalAcquisition):
    """Serve tokenizers already in the cache; never touches the network (air-gapped)."""

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None) -> None:
        self.cache = FileSystemCache(_cache_root(cache_dir))
        super().__init__(self.cache, name="cache-only")

    @property
    def cache_dir(self) -> Path:
        return self.cache.root
