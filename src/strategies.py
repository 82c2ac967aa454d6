"""Public, ready-to-use strategies: the domain's policies plugged into this machine's adapters.

This module is part of the composition layer (with the container and the facade): it is
the only public place besides them that names adapters.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from .adapters.filesystem_cache import FileSystemCache
from .adapters.hf_cache_source import HfCacheSource
from .adapters.local_dir_source import LocalDirSource
from .domain.bucket_layout import S3Options
from .domain.cache_policy import Located
from .domain.download_policy import Backoff
from .domain.errors import AcquisitionUnavailable
from .domain.fleet import BucketStrategy
from .domain.hybrid import HybridAcquisition
from .domain.local import LocalAcquisition
from .domain.network import NetworkStrategy
from .domain.options import NetworkOptions
from .domain.request import TokenizerDownloadInfo
from .domain.results import AcquisitionResult
from .domain.unavailable import UnavailableAcquisition
from .domain.vocab_check import VocabChecker
from .ports.acquisition import TokenizerAcquisition
from .ports.bucket import ObjectStore
from .ports.events import AcquisitionObserver
from .ports.lock import CacheKeyLock
from .ports.source import TokenizerSource
from .settings import environment_setting, load_settings

DOWNLOADS_EXTRA = "pip install 'tokenizer-acquisition[downloads]'"
S3_EXTRA = "pip install 'tokenizer-acquisition[s3]'"

__all__ = ["CacheOnlyAcquisition", "HfCacheAcquisition", "HybridAcquisition",
           "LocalDirAcquisition", "NetworkAcquisition", "S3Acquisition", "aiohttp_installed",
           "network_unavailable", "s3_installed"]


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


def s3_installed() -> bool:
    """botocore (signing, credentials) and aiohttp (the requests), checked without
    importing either."""
    return aiohttp_installed() and importlib.util.find_spec("botocore") is not None


def _s3_missing() -> str:
    missing = [name for name in ("botocore", "aiohttp")
               if importlib.util.find_spec(name) is None]
    return f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed " \
           "(the 's3' extra)"


def s3_unavailable() -> UnavailableAcquisition:
    return UnavailableAcquisition("s3", _s3_missing(), [S3_EXTRA], uses_network=True)


def require_s3() -> None:
    """Fail at build time, not download time, when the s3 extra is missing."""
    if not s3_installed():
        raise AcquisitionUnavailable("s3", [S3_EXTRA], reason=_s3_missing())


def _directory(given: str | os.PathLike[str] | None, key: str) -> Path:
    """``given``, else the ``key`` directory from the environment or its default.

    Only that one setting is resolved: building a cache-only strategy must not fail on
    an unrelated contradiction elsewhere in the configuration.
    """
    if given is not None:
        return Path(given).expanduser()
    directory: Path = environment_setting(key)
    return directory


class CacheOnlyAcquisition(LocalAcquisition):
    """Serve tokenizers already in the cache; never touches the network (air-gapped).

    ``cache_dir`` defaults to ``TOKACQ_CACHE_DIR``, else the platform's user cache
    directory. ``vocab`` shares one vocabulary checker (and its remembered counts) with
    other strategies over the same files.
    """

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None, *,
                 vocab: VocabChecker | None = None) -> None:
        self.cache = FileSystemCache(_directory(cache_dir, "cache_dir"))
        super().__init__(self.cache, name="cache-only", vocab=vocab)

    @property
    def cache_dir(self) -> Path:
        return self.cache.root


class _NoDirectory(TokenizerSource):
    """Stands in for an unconfigured ``local_dir``: holds nothing, reads nothing."""

    @property
    def description(self) -> str:
        return "no directory (local_dir is not configured)"

    def exists(self) -> bool:
        return False

    def locate(self, info: TokenizerDownloadInfo) -> Located:
        return Located(directory=Path(), found={})

    def read_bytes(self, located: Located, file: str) -> bytes:
        raise FileNotFoundError(file)


class _ReadOnlyDirectoryAcquisition(LocalAcquisition):
    """A ``LocalAcquisition`` over a directory someone else fills: unavailable without it.

    Unlike our own cache (which a first download creates), nothing will ever appear in a
    directory that is not there, so its absence is reported as a reason, not as a miss.
    """

    def unavailable_reason(self) -> str | None:
        return None if self.is_available() else self._missing_reason()

    def _missing_reason(self) -> str:
        return f"{self.source.description} does not exist"

    async def acquire(self, info: TokenizerDownloadInfo) -> AcquisitionResult:
        if not self.is_available():
            raise AcquisitionUnavailable(self.name, self.requirements(),
                                         reason=self._missing_reason())
        return await super().acquire(info)


class HfCacheAcquisition(_ReadOnlyDirectoryAcquisition):
    """Reuse tokenizers ``huggingface_hub``/``transformers`` already downloaded; read-only.

    ``hf_cache_dir`` defaults to the one ``huggingface_hub`` uses (``HF_HUB_CACHE``,
    ``$HF_HOME/hub``, ``~/.cache/huggingface/hub``).
    """

    def __init__(self, hf_cache_dir: str | os.PathLike[str] | None = None, *,
                 vocab: VocabChecker | None = None) -> None:
        self.hf_cache = HfCacheSource(_directory(hf_cache_dir, "hf_cache_dir"))
        super().__init__(self.hf_cache, name="hf-cache", vocab=vocab)

    @property
    def hf_cache_dir(self) -> Path:
        return self.hf_cache.root

    def is_available(self) -> bool:
        return self.hf_cache.exists()

    def requirements(self) -> list[str]:
        return [f"a huggingface_hub cache at {self.hf_cache.root} (set hf_cache_dir, "
                "HF_HUB_CACHE or HF_HOME to use another)"]

    def _missing_reason(self) -> str:
        return f"no Hugging Face cache at {self.hf_cache.root}"


class LocalDirAcquisition(_ReadOnlyDirectoryAcquisition):
    """Serve tokenizers from ``<root>/<org>/<name>/<file>`` (a checkout or an offline bundle).

    ``root=None`` builds a strategy that reports itself unavailable (``local_dir`` not
    configured), so a shared configuration may list ``local-dir`` on machines without one.
    """

    def __init__(self, root: str | os.PathLike[str] | None, *,
                 vocab: VocabChecker | None = None) -> None:
        self.local = None if root is None else LocalDirSource(Path(root))
        super().__init__(self.local or _NoDirectory(), name="local-dir", vocab=vocab)

    @property
    def root(self) -> Path | None:
        return None if self.local is None else self.local.root

    def is_available(self) -> bool:
        return self.local is not None and self.local.exists()

    def requirements(self) -> list[str]:
        where = "a directory" if self.local is None else str(self.local.root)
        return [f"{where} laid out as <local_dir>/<org>/<name>/<file> "
                "(setting local_dir or TOKACQ_LOCAL_DIR)"]

    def _missing_reason(self) -> str:
        if self.local is None:
            return "local_dir is not configured (set local_dir or TOKACQ_LOCAL_DIR)"
        return f"local_dir {self.local.root} does not exist or is not a directory"


class NetworkAcquisition(NetworkStrategy):
    """Download from the Hub or a mirror into the cache; needs the ``downloads`` extra.

    ``network_options`` are the ``[network]`` keys (``endpoint``, ``token``,
    ``max_retries``...); they pass through the same validation as configuration files,
    and the environment (``HF_ENDPOINT``, ``HF_TOKEN``, ``HF_HUB_OFFLINE``) still applies.
    With ``options`` given they are ignored. ``backoff`` tunes retry waits (tests use
    tiny ones). aiohttp is imported here, never by a cache-only process.

    Concurrent acquisitions of one tokenizer share one download in a process, and a
    per-cache-key file lock (``<cache>/.tokacq/locks/<key>.lock``) makes other processes
    wait for it, at most ``lock_timeout`` seconds (then ``LockTimeout``; by default the
    ``lock_timeout`` setting, ``TOKACQ_LOCK_TIMEOUT``). ``lock`` replaces that lock (tests
    pass ``NoLock()`` to play a filesystem without locks). ``vocab`` shares one
    vocabulary checker with the strategies that later serve the downloaded files.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        options: NetworkOptions | None = None,
        observer: AcquisitionObserver | None = None,
        lock_timeout: float | None = None,
        lock: CacheKeyLock | None = None,
        backoff: Backoff | None = None,
        vocab: VocabChecker | None = None,
        **network_options: Any,
    ) -> None:
        require_aiohttp()
        if options is None:
            settings = load_settings(overrides={
                "cache_dir": None if cache_dir is None else os.fspath(cache_dir),
                "network": network_options,
            })
            options, root = settings.network, settings.cache_dir
            if lock_timeout is None:
                lock_timeout = settings.lock_timeout
        else:
            root = _directory(cache_dir, "cache_dir")
        if lock_timeout is None:
            lock_timeout = float(environment_setting("lock_timeout"))
        from .adapters.aiohttp_remote import AiohttpRemoteFiles
        from .adapters.file_lock import FileKeyLock

        cache = FileSystemCache(root)
        super().__init__(cache, AiohttpRemoteFiles(options, backoff=backoff), options,
                         observer=observer, vocab=vocab,
                         lock=lock or FileKeyLock(cache.lock_path), lock_timeout=lock_timeout)

    @property
    def cache_dir(self) -> Path:
        return self.cache.root


class S3Acquisition(BucketStrategy):
    """The fleet's shared tier: the local cache, then ``s3://bucket/prefix``, then (with
    ``delegate``, usually a ``NetworkAcquisition``, and ``write_through``) the Hub once
    for the whole fleet (``domain/fleet.py``). Needs the ``s3`` extra.

    ``options`` are the ``[s3]`` settings (``S3Options``); credentials come from the AWS
    chain (environment, ``AWS_PROFILE``, web identity). ``store`` replaces the S3 client
    (tests wrap it to stop a leader at a chosen point).
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        options: S3Options,
        delegate: TokenizerAcquisition | None = None,
        network: NetworkOptions | None = None,
        lock_timeout: float | None = None,
        vocab: VocabChecker | None = None,
        store: ObjectStore | None = None,
    ) -> None:
        require_s3()
        if lock_timeout is None:
            lock_timeout = float(environment_setting("lock_timeout"))
        network = network or NetworkOptions()
        if store is None:
            from .adapters.s3_bucket import S3ObjectStore

            store = S3ObjectStore(options, network)
        super().__init__(FileSystemCache(_directory(cache_dir, "cache_dir")), store, options,
                         delegate=delegate, vocab=vocab, lock_timeout=lock_timeout,
                         offline_source=network.offline_source,
                         max_file_bytes=network.max_file_bytes)

    @property
    def cache_dir(self) -> Path:
        return self.cache.root

