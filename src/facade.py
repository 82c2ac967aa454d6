"""``SmartTokenizerDownload``: the one object services embed.

It owns a strategy (any ``TokenizerAcquisition``), reports what it can do before anything
is downloaded, and turns every acquisition into an ``AcquisitionResult`` or a typed error.
Constructors that name adapters import them lazily, so a cache-only process never imports
aiohttp.

The facade never imports the composition root (``container.py``): it is handed the one
function that builds a configured facade's parts (``use_composition_root``), by the root
when the root is loaded, and by the package when ``tokenizer_acquisition.SmartTokenizerDownload``
is first looked up (a function that loads the root on first use, so a service passing its
own strategy never loads dependency-injector).
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .domain.errors import AcquisitionUnavailable, ConfigurationError
from .domain.lockfile import LockEntry, LockFile
from .domain.observers import FanOutObserver, observed_attempt
from .domain.request import TokenizerDownloadInfo
from .domain.results import AcquisitionInfo, AcquisitionPlan, AcquisitionResult
from .ports.acquisition import TokenizerAcquisition
from .ports.events import AcquisitionObserver, NullObserver
from .ports.metrics import MetricsRecorder

if TYPE_CHECKING:
    from .adapters.filesystem_cache import FileSystemCache
    from .settings import Settings

T = TypeVar("T")


class ConfiguredParts(Protocol):
    """What the composition root hands the facade: a configured facade's parts.

    Called with the configuration source (``config_file``), explicit ``overrides`` and
    whether the downloads extra is required; returns the keyword arguments of
    ``SmartTokenizerDownload(...)`` (``strategy``, ``settings``, ``observer``,
    ``metrics``), or raises ``ConfigurationError``/``AcquisitionUnavailable``.
    """

    def __call__(self, config_file: Any = None, overrides: Mapping[str, Any] | None = None,
                 *, require_network: bool = False) -> dict[str, Any]: ...


_composition_root: ConfiguredParts | None = None


def use_composition_root(build: ConfiguredParts) -> None:
    """Called once by the composition root when it is imported (see the module docstring)."""
    global _composition_root
    _composition_root = build


def _configured(config_file: Any = None, overrides: Mapping[str, Any] | None = None,
                *, require_network: bool = False) -> dict[str, Any]:
    if _composition_root is None:
        raise RuntimeError(
            "no composition root is loaded: import SmartTokenizerDownload from "
            "tokenizer_acquisition (not tokenizer_acquisition.facade) to build it from "
            "configuration, or pass a strategy")
    return _composition_root(config_file, overrides, require_network=require_network)


class SmartTokenizerDownload:
    """Acquire tokenizers through one configured strategy.

    ``SmartTokenizerDownload()`` builds the hybrid order from configuration and environment
    (``TOKACQ_CONFIG``, ``TOKACQ_*``, ``HF_*``); the class methods build narrower ones.
    """

    def __init__(
        self,
        strategy: TokenizerAcquisition | None = None,
        *,
        settings: Settings | None = None,
        observer: AcquisitionObserver | None = None,
        metrics: MetricsRecorder | None = None,
    ) -> None:
        if strategy is None:
            parts = _configured()
            strategy, settings = parts["strategy"], parts["settings"]
            observer, metrics = parts["observer"], parts["metrics"]
        self._strategy = strategy
        self._settings = settings
        self._metrics = metrics
        self._observer = observer or NullObserver()
        # download_tokenizer_sync: one private event loop, shared by every calling thread.
        self._sync_lock = threading.Lock()
        self._sync_loop: _LoopThread | None = None
        self._sync_calls = 0

    # -- constructors ----------------------------------------------------------------------

    @classmethod
    def cache_only(cls, cache_dir: str | os.PathLike[str] | None = None) -> SmartTokenizerDownload:
        """Never touch the network: serve what the cache holds (air-gapped deployments)."""
        return cls(**_configured(overrides=_drop_none(strategy="cache-only",
                                                      cache_dir=_str(cache_dir))))

    @classmethod
    def with_downloads(cls, cache_dir: str | os.PathLike[str] | None = None,
                       **network_options: Any) -> SmartTokenizerDownload:
        """Cache first, then download; ``network_options`` are the ``[network]`` keys."""
        return cls(**_configured(overrides=_drop_none(
            strategy="hybrid", strategies=["cache-only", "network"],
            cache_dir=_str(cache_dir), network=network_options or None), require_network=True))

    @classmethod
    def with_strategy(cls, strategy: TokenizerAcquisition) -> SmartTokenizerDownload:
        """Use any strategy, including your own implementation of the port."""
        from .adapters.in_memory_metrics import InMemoryMetrics
        from .adapters.logging_observer import LoggingObserver

        metrics = InMemoryMetrics()
        return cls(strategy, observer=FanOutObserver([LoggingObserver(), metrics]),
                   metrics=metrics)

    @classmethod
    def from_config(cls, path_or_mapping: str | os.PathLike[str] | Mapping[str, Any]
                    ) -> SmartTokenizerDownload:
        """Build from a TOML file or an equivalent mapping (environment still overrides)."""
        return cls(**_configured(config_file=path_or_mapping))

    # -- acquisition -----------------------------------------------------------------------

    @property
    def strategy(self) -> TokenizerAcquisition:
        return self._strategy

    @property
    def settings(self) -> Settings | None:
        return self._settings

    async def acquire(self, info: TokenizerDownloadInfo) -> AcquisitionResult:
        """Acquire every requested file; raises a typed ``AcquisitionError`` on failure."""
        return await observed_attempt(self._strategy, info, self._observer)

    async def plan(self, info: TokenizerDownloadInfo) -> AcquisitionPlan:
        """What ``acquire(info)`` would do, without downloading or writing anything.

        The commit the revision resolves to, the selected files with their sizes and
        digests, and which of them the cache already holds verified. Online, one listing
        request (network parts first); offline, from what the cache recorded.
        """
        try:
            return await self._strategy.plan(info)
        except NotImplementedError:
            raise AcquisitionUnavailable(
                self._strategy.name, ["a strategy that can plan: network, cache-only, "
                                      "hf-cache, local-dir or hybrid"],
                reason="it cannot say what it would fetch") from None

    async def download_tokenizer(self, info: TokenizerDownloadInfo) -> Path:
        """The primary file's path (``tokenizer.json``, ``tokenizer.model``, ``vocab.txt``...)."""
        return (await self.acquire(info)).path

    def download_tokenizer_sync(self, info: TokenizerDownloadInfo) -> Path:
        """Blocking form for scripts and threaded servers; refuses to run inside a running
        event loop.

        Thread-safe: any number of threads may call it at once on one facade. The calls run
        on one private event loop (a daemon thread the facade starts on first use), so the
        HTTP session and the strategy's asyncio state belong to one loop, and concurrent
        requests for one cache key share a download. When the last call in flight returns,
        the HTTP session is closed: nothing stays open between bursts of calls. Do not mix
        it with ``await downloader.acquire(...)`` on the same facade from another loop at
        the same time; use one facade per event loop for that.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._run_sync(self.acquire(info)).path
        raise RuntimeError(
            "download_tokenizer_sync() was called inside a running event loop; "
            "use 'await downloader.download_tokenizer(info)' instead")

    def _run_sync(self, work: Coroutine[Any, Any, T]) -> T:
        with self._sync_lock:
            if self._sync_loop is None:
                self._sync_loop = _LoopThread()
                # The loop thread holds no reference to the facade; when the facade is
                # collected (or the interpreter exits) the loop stops and is closed.
                weakref.finalize(self, self._sync_loop.stop)
            loop = self._sync_loop
            self._sync_calls += 1
        try:
            return loop.run(work)
        finally:
            with self._sync_lock:
                self._sync_calls -= 1
                if self._sync_calls == 0:
                    # Under the lock: no call starts on a session that is being closed.
                    loop.run(self._strategy.aclose())

    def metrics(self) -> dict[str, Any]:
        """Per-strategy counters and durations as plain, JSON-serialisable data.

        Counted only when the facade was built with a metrics recorder (every built-in
        constructor does); otherwise ``{"strategies": {}}``.
        """
        return self._metrics.snapshot() if self._metrics else {"strategies": {}}

    def acquisition_info(self) -> AcquisitionInfo:
        """What this configuration can do, and why not, before anything is downloaded."""
        strategy = self._strategy
        return AcquisitionInfo(
            description=strategy.description,
            available=strategy.is_available(),
            requirements=tuple(strategy.requirements()),
            strategies=strategy.statuses(),
        )

    # -- lock files (tokacq lock / fetch --lock) ---------------------------------------------

    async def acquire_locked(self, lock: LockFile | str | os.PathLike[str]
                             ) -> list[AcquisitionResult]:
        """Acquire exactly the locked commits, each file pinned to its locked sha256.

        One result per locked repo and revision, in lock-file order; the first failure
        raises. ``lock`` is a ``LockFile`` or the path of one.
        """
        if not isinstance(lock, LockFile):
            lock = read_lock_file(lock)
        return [await self.acquire(info) for info in lock.requests()]

    async def lock(self, infos: Sequence[TokenizerDownloadInfo]) -> LockFile:
        """Acquire each request and pin what it got: every file's commit, size and sha256.

        The digests come from the cache's manifest of what was just fetched (only files
        it did not record are hashed). ``ConfigurationError`` when a file cannot be read
        or carries no commit (files placed by hand). ``lock.to_toml()`` is the lock file
        ``tokacq lock`` writes; ``acquire_locked(lock)`` fetches exactly that again.
        """
        from .adapters.filesystem_cache import FileSystemCache

        fetched = [(info, await self.acquire(info)) for info in infos]
        cache = None if self._settings is None else FileSystemCache(self._settings.cache_dir)
        return LockFile(tuple(entry for info, result in fetched
                              for entry in _lock_entries(info, result, cache)))

    # -- lifecycle -------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self._strategy.aclose()

    async def __aenter__(self) -> SmartTokenizerDownload:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


class _LoopThread:
    """An event loop running forever on a daemon thread; ``run`` submits from any thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="tokacq-sync-loop", daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not threading.current_thread():
            self._thread.join()
            self._loop.close()


def _str(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else os.fspath(path)


def _drop_none(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def read_lock_file(path: str | os.PathLike[str]) -> LockFile:
    """Parse a lock file (``ConfigurationError`` naming the file when unreadable or invalid)."""
    source = f"lock file {os.fspath(path)}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigurationError(f"cannot read the lock file ({reason})", key="lock",
                                 value=os.fspath(path), source=source) from None
    return LockFile.parse(text, source)


def _lock_entries(info: TokenizerDownloadInfo, result: AcquisitionResult,
                  cache: FileSystemCache | None) -> list[LockEntry]:
    """Entries from the manifest of what was just fetched (hashing only unrecorded files)."""
    from .adapters.read_only_disk import sha256_of

    # Our key's link resolves to the snapshot the result names.
    ours = cache is not None and \
        result.directory.resolve() == cache.directory(info.cache_key).resolve()
    manifest = cache.read_manifest(info.cache_key) if cache is not None and ours else {}
    entries = []
    for name in result.files:  # a discovered set's files are the result's
        path = result.files[name]
        size = path.stat().st_size
        recorded = manifest.get(name)
        if recorded is not None and recorded.sha256 and recorded.size == size:
            digest = recorded.sha256
        else:
            hashed = sha256_of(path)
            if hashed is None:
                raise ConfigurationError(
                    f"cannot lock {info.repo}: {path} cannot be read", key="file",
                    value=str(path), source=f"strategy {result.strategy}")
            digest = hashed
        commit = (recorded.commit if recorded else None) or result.commit
        if not commit:
            raise ConfigurationError(
                f"cannot lock {info.repo}: no commit is known for {name} in {result.directory} "
                "(files placed by hand carry none)", key="commit", value=None,
                source=f"strategy {result.strategy}",
                suggestions=[f"remove them ('tokacq cache prune {info.cache_key}') and run "
                             "'tokacq lock' again online, so they are fetched from the Hub"])
        entries.append(LockEntry(info.repo, info.revision, commit, name, size, digest))
    return entries
