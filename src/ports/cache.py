"""Write side of our own cache: partial downloads, verified blobs, atomic set publication.

The network strategy drives it in this order, per acquisition:
``ensure_writable`` and ``check_publishable`` (before any download), then per file
``reserve_staging`` / ``release_staging`` around the download and ``store_blob`` once its
bytes are verified (recorded with ``remember`` so a killed run's work is reused:
``pending`` and ``existing_blob``), and finally one ``publish`` of the whole set.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .source import TokenizerSource

if TYPE_CHECKING:
    from ..domain.cache_policy import Located
    from ..domain.manifest import Snapshot


class TokenizerCache(TokenizerSource):
    """Our cache: ``<root>/<cache_key>/<file>``; bookkeeping lives under ``<root>/.tokacq``.

    Blocking methods (all but ``directory``) are run in threads by async callers.
    """

    root: Path

    @abstractmethod
    def directory(self, cache_key: str) -> Path:
        """Where a cache key's files are shown."""

    @abstractmethod
    def ensure_writable(self) -> None:
        """Raise ``CacheWriteError`` when nothing can be published here."""

    @abstractmethod
    def check_publishable(self, cache_key: str) -> None:
        """Raise ``CacheWriteError`` when the key's place is not ours to replace (files
        placed by hand)."""

    @abstractmethod
    def staging_path(self, cache_key: str, file: str, tag: str) -> Path:
        """A unique path on the cache's filesystem for a partial download of ``file``."""

    def reserve_staging(self, cache_key: str, file: str, tag: str) -> Path:
        """The partial to download ``file`` into, reserved until ``release_staging``.

        Unique to this call, so concurrent downloaders (even where locks are no-ops) never
        write the same file; an implementation may hand over a partial that an earlier,
        finished or dead, downloader left for the same ``tag`` so the download resumes.
        The default is a fresh ``staging_path``.
        """
        return self.staging_path(cache_key, file, tag)

    def release_staging(self, staged: Path) -> None:
        """End a ``reserve_staging`` reservation (the file stays, adoptable by a later one).

        Called exactly once per reservation, also when the download failed.
        """

    @contextmanager
    def staging(self, cache_key: str, file: str, tag: str) -> Iterator[Path]:
        """``reserve_staging`` and ``release_staging`` around a ``with`` block."""
        staged = self.reserve_staging(cache_key, file, tag)
        try:
            yield staged
        finally:
            self.release_staging(staged)

    @abstractmethod
    def store_blob(self, staged: Path, sha256: str) -> Path:
        """Move a verified, fsynced partial into the content store under its digest."""

    @abstractmethod
    def existing_blob(self, sha256: str) -> Path | None:
        """The stored blob of that digest, if present and its bytes still hash to it."""

    @abstractmethod
    def pending(self, cache_key: str, tag: str) -> Snapshot | None:
        """The files an interrupted acquisition (same key and ``tag``) already verified."""

    @abstractmethod
    def remember(self, cache_key: str, tag: str, snapshot: Snapshot) -> None:
        """Record the files verified so far for a set not yet published."""

    @abstractmethod
    def publish(self, snapshot: Snapshot, tag: str | None = None) -> Located:
        """Make the complete set (every file stored as a blob) the key's, atomically; forget
        the journal of ``tag``. Returns the published set as a lookup sees it."""
