"""Is what a source holds a complete hit for this request? A pure decision, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .manifest import ManifestEntry
from .request import TokenizerDownloadInfo


@dataclass(frozen=True)
class FileFacts:
    """What a stat told us about one file."""

    path: Path
    size: int
    mtime_ns: int = 0


@dataclass(frozen=True)
class Located:
    """What a source found for a request: present files, and its manifest if it keeps one."""

    directory: Path
    found: Mapping[str, FileFacts]
    manifest: Mapping[str, ManifestEntry] = field(default_factory=dict)
    commit: str | None = None


@dataclass(frozen=True)
class CacheDecision:
    """``hit`` only when every requested file is present and complete."""

    hit: bool
    usable: tuple[str, ...]
    missing: tuple[str, ...]
    stale: tuple[str, ...]

    @property
    def needed(self) -> tuple[str, ...]:
        return self.missing + self.stale


def _entry_is_stale(info: TokenizerDownloadInfo, name: str, facts: FileFacts,
                    entry: ManifestEntry | None) -> bool:
    pin = info.sha256.get(name) if info.sha256 else None
    if entry is None:
        # Placed by hand: present is enough, unless a pin demands a digest we don't know.
        return pin is not None
    if entry.size != facts.size:
        return True
    if entry.repo is not None and entry.repo != info.repo:
        return True
    if info.is_pinned_commit and entry.commit is not None and entry.commit != info.revision:
        return True
    if (not info.is_pinned_commit and entry.revision is not None
            and entry.revision != info.revision and entry.commit != info.revision):
        return True
    return pin is not None and entry.sha256 != pin


def decide(info: TokenizerDownloadInfo, located: Located) -> CacheDecision:
    """Classify each requested file as usable, missing, or stale (present but not trustworthy)."""
    usable: list[str] = []
    missing: list[str] = []
    stale: list[str] = []
    for name in info.files:
        facts = located.found.get(name)
        if facts is None:
            missing.append(name)
        elif _entry_is_stale(info, name, facts, located.manifest.get(name)):
            stale.append(name)
        else:
            usable.append(name)
    return CacheDecision(
        hit=not missing and not stale,
        usable=tuple(usable),
        missing=tuple(missing),
        stale=tuple(stale),
    )
