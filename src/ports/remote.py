"""Fetching one remote file into a staging path: the network strategy's only transport need.

Small on purpose (one download method, ``discard``, ``aclose``) so a test fake is a few
lines: it writes bytes to ``staged`` and returns a ``Fetched``. Discovery (issue 11)
adds ``list_files``; its default says it cannot list, so a fake that never lists
stays a few lines.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..domain.discovery import RepoListing


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch. ``url`` never carries credentials; the transport adds them.

    ``sha256``: the caller's pin, when there is one (lower-case hex). The transport then
    accepts answers that carry no validator, or an opaque one with no announced length,
    because the pin will check the bytes; checking the pin stays the caller's job.
    """

    url: str
    file: str
    staged: Path
    repo: str
    revision: str
    max_bytes: int
    sha256: str | None = None


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

    def resumed(self, offset: int) -> None:
        """The transfer continues a partial: ``offset`` bytes were already held (called
        right after ``started``; those bytes are never ``advanced``)."""

    def restarted(self) -> None:
        """The file is being fetched again from byte 0 (a server ignored ``Range``, a
        partial was discarded, ``resume=False``): bytes advanced so far no longer count."""


class RemoteFiles(ABC):
    """Downloads with resume: a partial left at ``staged`` by an earlier call (in this
    process or another) is continued when its validator still matches."""

    @abstractmethod
    async def download(self, remote: RemoteFile, *, resume: bool = True,
                       progress: TransferProgress | None = None) -> Fetched:
        """Fetch ``remote`` into ``remote.staged``; ``resume=False`` starts from byte 0.

        Raises the typed ``NetworkError`` family, or ``IntegrityError`` for
        ``max_file_bytes`` and for answers nothing could verify (a ``Content-Encoding``,
        no validator, an opaque ETag without a length; see ``domain/verification.py``).
        """

    @abstractmethod
    def discard(self, staged: Path) -> None:
        """Forget a partial download and its validator; idempotent.

        The validator stays beside a finished download (so a crash before publication
        does not cost a re-download): call this once the file is published or refused.
        """

    async def list_files(self, repo: str, revision: str) -> RepoListing:
        """The repo's files at ``revision`` and the commit it resolves to (one request
        where the endpoint allows it), each with its size and digests when known.

        The listing is untrusted: the caller checks it (``discovery.checked_listing``).
        Raises the typed ``NetworkError`` family. The default raises
        ``NotImplementedError`` (ports import nothing of the domain), which the network
        strategy reports as ``ListingUnavailable``.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot list a repo's files")

    async def aclose(self) -> None:  # noqa: B027 - optional hook, default is nothing to close
        """Release pooled connections; the transport may be used again afterwards."""
