"""The Hub's listing API as pure functions: URLs, the JSON it answers, pagination.

Two routes list a repo (what ``huggingface_hub`` and mirrors such as olah serve):

- ``GET /api/models/{repo}/revision/{rev}?blobs=true`` (``HfApi.model_info(...,
  files_metadata=True)``): the commit (``sha``) and every file (``siblings``) with
  ``rfilename``, ``size``, ``blobId`` (git object id) and, for LFS files,
  ``lfs {sha256, size, pointerSize}``. One request: what discovery uses first.
- ``GET /api/models/{repo}/tree/{rev}?recursive=true`` (``HfApi.list_repo_tree``):
  entries ``{type, path, size, oid, lfs {oid, size}}``, paginated by a ``Link`` header
  with ``rel="next"`` (the Hub pages at 1,000 entries). Used when the first answer
  carries no sizes (a mirror that omits ``?blobs``).

Everything parsed here is untrusted: wrong types become ``ValueError`` (the adapter
turns it into ``ListingRefused``); paths are checked by ``discovery.checked_listing``.
For an LFS file the ``blobId``/``oid`` is the pointer's git id, not the content's, so
only its LFS sha256 is kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .discovery import MAX_ENTRIES, RepoEntry, RepoListing

_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
#: ``rel="next"`` in a ``Link`` header (RFC 8288), as GitHub and the Hub send it.
_LINK = re.compile(r'<([^>]*)>\s*;\s*(?:[^,]*?;\s*)?rel="?([^",;]+)"?')
#: Pages of a tree listing followed at most (the Hub pages at 1,000 entries).
MAX_PAGES = 100
#: Largest listing answer read (10,000 siblings are about 3 MB of JSON).
MAX_LISTING_BYTES = 32 << 20


def revision_url(endpoint: str, repo: str, revision: str) -> str:
    """``model_info(files_metadata=True)``'s URL, quoted as ``huggingface_hub`` does."""
    return (f"{endpoint.rstrip('/')}/api/models/{repo}/revision/"
            f"{quote(revision, safe='')}?blobs=true")


def tree_url(endpoint: str, repo: str, revision: str) -> str:
    """``list_repo_tree(recursive=True)``'s first page."""
    return (f"{endpoint.rstrip('/')}/api/models/{repo}/tree/"
            f"{quote(revision, safe='')}?recursive=true")


def next_page(link: str | None) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header, if any."""
    if not link:
        return None
    for found in _LINK.finditer(link):
        if found.group(2).strip().lower() == "next":
            return found.group(1).strip()
    return None


def _size(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"a size is not an integer ({type(value).__name__})")
    return value


def _digest(value: Any, pattern: re.Pattern[str]) -> str | None:
    if not isinstance(value, str):
        return None
    lowered = value.lower()
    return lowered if pattern.fullmatch(lowered) else None


def _entry(path: Any, size: Any, git_oid: Any, lfs: Any, lfs_key: str) -> RepoEntry:
    if not isinstance(path, str):
        raise ValueError("an entry's path is not a string")
    if lfs is not None:
        if not isinstance(lfs, Mapping):
            raise ValueError(f"{path!r}: lfs is not an object")
        lfs_size = _size(lfs.get("size"))
        return RepoEntry(path=path, size=lfs_size if lfs_size is not None else _size(size),
                         sha256=_digest(lfs.get(lfs_key), _HEX64))
    return RepoEntry(path=path, size=_size(size), git_sha1=_digest(git_oid, _HEX40))


def parse_model_info(doc: Any, *, repo: str, revision: str) -> tuple[RepoListing, bool]:
    """The listing in a ``/revision/`` answer, and whether it is complete (every entry
    has a size); ``ValueError`` when it is not the Hub's shape."""
    if not isinstance(doc, Mapping):
        raise ValueError("the answer is not a JSON object")
    sha = doc.get("sha")
    commit = _digest(sha, _HEX40)
    siblings = doc.get("siblings")
    if siblings is None:
        return RepoListing(repo, revision, commit, ()), False
    if not isinstance(siblings, list):
        raise ValueError("siblings is not a list")
    if len(siblings) > MAX_ENTRIES:
        raise ValueError(f"more than {MAX_ENTRIES} siblings")
    entries = []
    for sibling in siblings:
        if not isinstance(sibling, Mapping):
            raise ValueError("a sibling is not an object")
        entries.append(_entry(sibling.get("rfilename"), sibling.get("size"),
                              sibling.get("blobId"), sibling.get("lfs"), "sha256"))
    complete = all(e.size is not None for e in entries)
    return RepoListing(repo, revision, commit, tuple(entries)), complete


def parse_tree_page(doc: Any) -> list[RepoEntry]:
    """The files of one tree page (folders skipped); ``ValueError`` otherwise."""
    if not isinstance(doc, list):
        raise ValueError("a tree page is not a JSON list")
    if len(doc) > MAX_ENTRIES:
        raise ValueError(f"more than {MAX_ENTRIES} entries in one page")
    out = []
    for item in doc:
        if not isinstance(item, Mapping):
            raise ValueError("a tree entry is not an object")
        if item.get("type") != "file":
            continue
        out.append(_entry(item.get("path"), item.get("size"), item.get("oid"),
                          item.get("lfs"), "oid"))
    return out
