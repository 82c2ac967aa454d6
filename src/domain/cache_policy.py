"""Is what a source holds a complete hit for this request? A pure decision, no I/O.

Two kinds of place hold files:

- a *managed* snapshot (our cache's published sets): a hit needs the snapshot to be of
  the request's repo and revision (or pinned commit), every requested file recorded in
  its manifest, and the bytes on disk to hash to the recorded sha256 (the source
  measures that; a memo by stamp keeps it a few stats). Files present but not recorded
  are never a hit: they are "unverified";
- an *unmanaged* directory (files placed by hand, an HF cache, a checkout): present is
  enough, unless the request pins a sha256, which the measured digest must equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .discovery import Selection
from .manifest import ManifestEntry
from .request import TokenizerDownloadInfo


@dataclass(frozen=True)
class FileFacts:
    """What a stat told us about one file; ``sha256`` is its content's digest when the
    source measured it (or knows it from an unchanged stamp), else None."""

    path: Path
    size: int
    mtime_ns: int = 0
    sha256: str | None = None


@dataclass(frozen=True)
class Located:
    """What a source found for a request: present files, and its manifest if it keeps one.

    ``managed``: the directory is a snapshot our cache published, described by
    ``manifest`` (``repo``, ``revision``, ``commit`` are the snapshot's). ``problem`` says
    why a managed key could not be read as one (an unreadable manifest): never a hit.
    """

    directory: Path
    found: Mapping[str, FileFacts]
    manifest: Mapping[str, ManifestEntry] = field(default_factory=dict)
    commit: str | None = None
    managed: bool = False
    repo: str | None = None
    revision: str | None = None
    problem: str | None = None
    #: How a managed snapshot's files were chosen, when discovered (``Snapshot.selection``).
    selection: Selection | None = None


@dataclass(frozen=True)
class CacheDecision:
    """``hit`` only when every requested file is present and verified.

    ``stale``: present but not trustworthy for this request (other revision, content not
    matching its record or pin, not recorded at all). ``conflict``: the place holds
    another repo under this key.
    """

    hit: bool
    usable: tuple[str, ...]
    missing: tuple[str, ...]
    stale: tuple[str, ...]
    conflict: str | None = None

    @property
    def needed(self) -> tuple[str, ...]:
        return self.missing + self.stale


def revision_matches(info: TokenizerDownloadInfo, located: Located) -> bool:
    """A snapshot serves the request's revision: the pinned commit itself, or the same
    revision name it was fetched for (a branch is not asked again; pin or refresh)."""
    if info.is_pinned_commit:
        return located.commit == info.revision
    return located.revision == info.revision or (
        located.commit is not None and located.commit == info.revision)


def _managed_usable(info: TokenizerDownloadInfo, name: str, facts: FileFacts,
                    entry: ManifestEntry | None) -> bool:
    if entry is None or entry.sha256 is None:
        return False  # present but unrecorded: nothing says what it should be
    if facts.size != entry.size or facts.sha256 != entry.sha256:
        return False  # the bytes are not the ones verified
    pin = info.sha256.get(name) if info.sha256 else None
    return pin is None or pin == entry.sha256


def _unmanaged_usable(info: TokenizerDownloadInfo, name: str, facts: FileFacts,
                      entry: ManifestEntry | None) -> bool:
    if entry is not None:
        if entry.size != facts.size:
            return False
        if entry.repo is not None and entry.repo != info.repo:
            return False
        if info.is_pinned_commit and entry.commit is not None and entry.commit != info.revision:
            return False
    pin = info.sha256.get(name) if info.sha256 else None
    if pin is None:
        return True
    measured = facts.sha256 or (entry.sha256 if entry is not None else None)
    return measured == pin


def decide(info: TokenizerDownloadInfo, located: Located) -> CacheDecision:
    """Classify each requested file as usable, missing, or stale.

    A discovered request not yet resolved to files (``info.files`` empty) is never a hit:
    ``recorded_files`` (or a listing) resolves it first.
    """
    conflict = None
    if located.managed and located.repo is not None and located.repo != info.repo:
        conflict = located.repo
    whole_set_stale = located.managed and (
        conflict is not None or located.problem is not None
        or not revision_matches(info, located))
    usable: list[str] = []
    missing: list[str] = []
    stale: list[str] = []
    check = _managed_usable if located.managed else _unmanaged_usable
    for name in info.files:
        facts = located.found.get(name)
        if facts is None:
            missing.append(name)
        elif whole_set_stale or not check(info, name, facts, located.manifest.get(name)):
            stale.append(name)
        else:
            usable.append(name)
    return CacheDecision(
        hit=bool(info.files) and not missing and not stale,
        usable=tuple(usable),
        missing=tuple(missing),
        stale=tuple(stale),
        conflict=conflict,
    )


def recorded_files(info: TokenizerDownloadInfo, located: Located) -> tuple[str, ...] | None:
    """The files of the key's set when it was acquired with this request's selection and
    revision (a discovered set, served again without a listing); None otherwise."""
    if not located.managed or located.selection is None or located.problem is not None:
        return None
    if located.selection != info.selection or located.repo != info.repo:
        return None
    if not revision_matches(info, located):
        return None
    return tuple(sorted(located.manifest))
