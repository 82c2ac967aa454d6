"""The public surface changes only on purpose, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import tokenizer_acquisition

EXPECTED = {
    "AcquisitionError", "AcquisitionInfo", "AcquisitionResult", "AcquisitionUnavailable",
    "AllStrategiesFailed", "AuthenticationFailed", "CacheKeyNotFound", "CacheOnlyAcquisition",
    "CacheKeyConflict", "CacheWriteError", "ConfigurationError", "EntryNotFound",
    "GatedRepository",
    "HfCacheAcquisition", "HybridAcquisition", "IntegrityError", "InvalidRequest",
    "LocalDirAcquisition", "LockFile", "AcquisitionPlan", "ListingRefused", "ListingUnavailable",
    "LockTimeout", "NetworkAcquisition", "NetworkError", "OfflineModeError", "RateLimited",
    "RepositoryNotFound", "RevisionNotFound", "SmartTokenizerDownload", "StrategyStatus",
    "TokenizerAcquisition", "TokenizerDownloadInfo", "TokenizerNotFound", "VocabMismatch",
    "__version__", "build_container", "default_cache_key", "redact_secrets",
}


def test_exported_names_are_exactly_the_public_api() -> None:
    """__all__ lists the public API; every name in it resolves."""
    assert set(tokenizer_acquisition.__all__) == EXPECTED
    for name in tokenizer_acquisition.__all__:
        assert getattr(tokenizer_acquisition, name) is not None


def test_import_loads_neither_aiohttp_nor_dependency_injector() -> None:
    """`import tokenizer_acquisition` pulls in no HTTP client and no DI framework."""
    code = ("import sys, tokenizer_acquisition; "
            "print(sorted(m for m in ('aiohttp', 'dependency_injector', 'structlog') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_a_service_with_its_own_strategy_never_loads_the_composition_root() -> None:
    """`SmartTokenizerDownload.with_strategy(...)` works without the container (and its
    dependency-injector); `SmartTokenizerDownload.cache_only()` builds through it."""
    code = ("import sys, tempfile; from tokenizer_acquisition import SmartTokenizerDownload, "
            "CacheOnlyAcquisition; d = tempfile.mkdtemp(); "
            "SmartTokenizerDownload.with_strategy(CacheOnlyAcquisition(d)); "
            "before = 'tokenizer_acquisition.container' in sys.modules; "
            "SmartTokenizerDownload.cache_only(d); "
            "print(before, 'tokenizer_acquisition.container' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.split() == ["False", "True"]


def test_package_ships_type_information() -> None:
    """py.typed is installed with the package."""
    from importlib.resources import files

    assert files("tokenizer_acquisition").joinpath("py.typed").is_file()
