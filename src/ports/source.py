"""Read side of local storage: where a request's files are, as facts."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..domain.cache_policy import Located
    from ..domain.request import TokenizerDownloadInfo


class TokenizerSource(ABC):
    """A place on disk that may already hold a tokenizer (our cache, an HF cache, a checkout).

    ``locate`` only stats and reads bookkeeping: it never writes and never locks, so it
    works on a read-only directory.
    """

    @property
    @abstractmethod
    def description(self) -> str:
        """Where this source looks, for humans."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether the source's root is there at all."""

    @abstractmethod
    def locate(self, info: TokenizerDownloadInfo) -> Located:
        """Facts about the requested files; missing ones are simply absent from ``found``."""

    @abstractmethod
    def read_bytes(self, located: Located, file: str) -> bytes:
        """A located file's content (for vocabulary checks)."""

    def present_files(self, info: TokenizerDownloadInfo) -> tuple[str, ...] | None:
        """The files a directory without a record of its selection holds for the request
        (placed by hand, an HF cache snapshot), so discovery can pick from them; None
        when the source cannot list (the default) or has no such directory."""
        return None

    def placement_hint(self, info: TokenizerDownloadInfo, located: Located, files: str) -> str:
        """The suggestion for a miss: where an operator would put ``files`` (already listed
        for humans) so that this source finds them next time."""
        return f"place {files} in {located.directory}"
