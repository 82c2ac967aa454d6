"""Fetching one remote file into a staging path: the network strategy's only transport need.

Small on purpose (one download method, ``discard``, ``aclose``) so a test fake is a few
lines: it writes bytes to ``staged`` and returns a ``Fetched``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch. ``url`` never carries credentials; the transport adds them."""

    url: str
    file: str
    staged: Path
    repo: str
    revision: str
    max_bytes: int


@dataclass(frozen=True)
class Fetched:
    """A complete, fsynced file at ``path`` (== the request's ``staged``), not yet verified.

    ``etag`` is the Hub's identity for the content (``X-Linked-Etag``, else ``ETag``),
    normalised; ``announced_size`` the size the server declared, if any; ``received``
    the bytes that crossed the network in this call; ``resumed`` whether bytes of an
    earlier partial were kept.
    """

    path: Path
    size: int
    sha256: str
    git_sha1: str | None
    etag: str | None
    announced_size: int | None
    commit: str | None
    received: int
    resumed: bool


class TransferProgress:
    """Progress hooks; no-op defaults."""

    def started(self, total: int | None) -> None:
        """The first answer arrived; ``total`` is the file's size when announced."""

    def advanced(self, nbytes: int) -> None:
        """``nbytes`` more bytes arrived."""


class RemoteFiles(ABC):
    """Downloads with resume: a partial left at ``staged`` by an earlier call (in this
    process or another) is continued when its validator still matches."""

    @abstractmethod
    async def download(self, remote: RemoteFile, *, resume: bool = True,
                       progress: TransferProgress | None = None) -> Fetched:
        """Fetch ``remote`` into ``remote.staged``; ``resume=False`` starts from byte 0.

        Raises the typed ``NetworkError`` family, or ``IntegrityError`` for
        ``max_file_bytes``.
        """

    @abstractmethod
    def discard(self, staged: Path) -> None:
        """Forget a partial download and its validator; idempotent."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, default is nothing to close
        """Release pooled connections; the transport may be used again afterwards."""
