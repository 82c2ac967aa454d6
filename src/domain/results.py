"""What acquisitions and introspection hand back: plain, frozen values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Defined with the port that returns it; re-exported here with the other result values.
from ..ports.acquisition import StrategyStatus as StrategyStatus
from .errors import Attempt


@dataclass(frozen=True)
class AcquisitionInfo:
    """What a configuration can do, said before anything is downloaded."""

    description: str
    available: bool
    requirements: tuple[str, ...]
    strategies: tuple[StrategyStatus, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AcquisitionResult:
    """A finished acquisition: where the files are and how they got there."""

    path: Path
    directory: Path
    files: Mapping[str, Path]
    strategy: str
    from_cache: bool
    bytes_downloaded: int = 0
    elapsed_s: float = 0.0
    commit: str | None = None
    #: Strategies a hybrid tried before the one that succeeded, each with its typed error.
    attempts: tuple[Attempt, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (paths as strings)."""
        return {
            "path": str(self.path),
            "directory": str(self.directory),
            "files": {name: str(p) for name, p in self.files.items()},
            "strategy": self.strategy,
            "from_cache": self.from_cache,
            "bytes_downloaded": self.bytes_downloaded,
            "elapsed_s": self.elapsed_s,
            "commit": self.commit,
            "attempts": [{"strategy": a.strategy,
                          "error": type(a.error).__name__ if a.error else None,
                          "skipped": a.skipped,
                          "message": a.describe()} for a in self.attempts],
        }


@dataclass(frozen=True)
class PlannedFile:
    """One file of a plan: its size and digests as listed, and whether the cache already
    holds it verified for this request (nothing to download)."""

    name: str
    size: int | None
    sha256: str | None = None
    git_sha1: str | None = None
    cached: bool = False


@dataclass(frozen=True)
class AcquisitionPlan:
    """What an acquisition would do, said before anything is downloaded or written
    (``SmartTokenizerDownload.plan``, ``tokacq fetch --dry-run``, ``tokacq ls``).

    ``commit`` is the commit the revision resolves to now (None when the source cannot
    say); ``files`` the selected files in request order; ``source`` what answered (the
    endpoint's listing, or the cache's record when offline).
    """

    repo: str
    revision: str
    cache_key: str
    commit: str | None
    files: tuple[PlannedFile, ...]
    directory: Path
    source: str
    #: Optional files the repo does not have (skipped without failure).
    skipped: tuple[str, ...] = ()

    @property
    def to_download(self) -> tuple[PlannedFile, ...]:
        return tuple(f for f in self.files if not f.cached)

    @property
    def download_bytes(self) -> int | None:
        """Bytes still to fetch; None when a size is unknown."""
        sizes = [f.size for f in self.to_download]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s)

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo": self.repo, "revision": self.revision, "cache_key": self.cache_key,
            "commit": self.commit, "directory": str(self.directory), "source": self.source,
            "files": [asdict(f) for f in self.files], "skipped": list(self.skipped),
            "download_bytes": self.download_bytes,
        }
