"""Write side of our own cache: partial downloads, atomic publication, the manifest."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .source import TokenizerSource

if TYPE_CHECKING:
    from ..domain.manifest import ManifestEntry


class TokenizerCache(TokenizerSource):
    """Our cache: ``<root>/<cache_key>/<file>``; bookkeeping lives under ``<root>/.tokacq``."""

    root: Path

    @abstractmethod
    def directory(self, cache_key: str) -> Path:
        """Where a cache key's files are published."""

    @abstractmethod
    def ensure_writable(self) -> None:
        """Raise ``CacheWriteError`` when nothing can be published here."""

    @abstractmethod
    def publish(self, cache_key: str, file: str, staged: Path, entry: ManifestEntry) -> Path:
        """Atomically move a verified, fsynced file into place and record it in the manifest."""

    def place(self, cache_key: str, file: str, staged: Path, entry: ManifestEntry) -> Path:
        """Like ``publish``, but the manifest entry may wait for ``record_many``.

        An acquisition places each file as soon as it is verified, then records all of
        them with one manifest write. The default publishes (and so records) at once.
        """
        return self.publish(cache_key, file, staged, entry)

    def record_many(self, cache_key: str, entries: Mapping[str, ManifestEntry]) -> None:
        """Record the entries of files ``place`` moved into place; the default has nothing
        left to do."""

    @abstractmethod
    def staging_path(self, cache_key: str, file: str, tag: str) -> Path:
        """A unique path on the cache's filesystem for a partial download of ``file``."""

    def reserve_staging(self, cache_key: str, file: str, tag: str) -> Path:
        """The partial to download ``file`` into, reserved until ``release_staging``.

        Blocking (it may list, stat and rename): async callers run it in a thread. Unique
        to this call, so concurrent downloaders (even where locks are no-ops) never write
        the same file; an implementation may hand over a partial that an earlier, finished
        or dead, downloader left for the same ``tag`` so the download resumes. The default
        is a fresh ``staging_path``.
        """
        return self.staging_path(cache_key, file, tag)

    def release_staging(self, staged: Path) -> None:
        """End a ``reserve_staging`` reservation (the file stays, adoptable by a later one).

        Called exactly once per reservation, also when the download failed. The default
        has nothing to release.
        """

    @contextmanager
    def staging(self, cache_key: str, file: str, tag: str) -> Iterator[Path]:
        """``reserve_staging`` and ``release_staging`` around a ``with`` block (for
        synchronous callers; it blocks)."""
        staged = self.reserve_staging(cache_key, file, tag)
        try:
            yield staged
        finally:
            self.release_staging(staged)
