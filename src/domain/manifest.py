"""The cache's record of a published set, as plain data, and its strict JSON form.

A *snapshot* is one complete set of files of one repo at one commit, published for a
cache key at once (see ``adapters/filesystem_cache.py`` for the layout). Its manifest
says, per file, the size and sha256 that were verified before publication, and the
file's *stamp* (device, inode, size, mtime_ns, ctime_ns) as it stood when published: a
later lookup that finds the same stamp knows the bytes are the ones verified (any write
changes mtime and ctime), and one that finds another stamp hashes the file again.

Parsing is strict and total: any input (not JSON, truncated, nested 200,000 levels
deep, fields of the wrong type, NaN) gives ``ManifestError``, never another exception,
so every reader turns a damaged manifest into one typed outcome.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .discovery import Selection
from .errors import InvalidRequest
from .request import check_file
from .safe_text import safe_text

#: Written in every snapshot manifest; a reader refuses other formats and versions.
FORMAT = "tokacq-snapshot"
VERSION = 2
#: A manifest larger than this is not ours (a set of tokenizer files is a few KB of JSON).
MAX_MANIFEST_BYTES = 16 << 20

_HEX64 = re.compile(r"[0-9a-f]{64}")

Stamp = tuple[int, int, int, int, int]


class ManifestError(ValueError):
    """A manifest that cannot be read as one: the reason, for ``cache verify``."""


@dataclass(frozen=True)
class ManifestEntry:
    """One file. ``source`` is a URL without credentials, or a description.

    Sources other than our cache (an HF cache, a local directory) describe what they
    found with the same type; only ``size`` is always known.
    """

    size: int
    sha256: str | None = None
    etag: str | None = None
    commit: str | None = None
    revision: str | None = None
    repo: str | None = None
    source: str | None = None
    fetched_at: float | None = None
    stamp: Stamp | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["stamp"] = list(self.stamp) if self.stamp is not None else None
        return out

    @classmethod
    def from_dict(cls, data: Any) -> ManifestEntry:
        """Strict: every field of the right type, or ``ManifestError``."""
        if not isinstance(data, Mapping):
            raise ManifestError("a file entry is not an object")
        size = data.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ManifestError("a file entry has no valid size")
        strings = {}
        for name in ("sha256", "etag", "commit", "revision", "repo", "source"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise ManifestError(f"a file entry's {name} is not a string")
            strings[name] = value
        sha256 = strings.pop("sha256")
        if sha256 is not None and not _HEX64.fullmatch(sha256):
            raise ManifestError("a file entry's sha256 is not 64 lower-case hex digits")
        fetched_at = data.get("fetched_at")
        if fetched_at is not None and (
                not isinstance(fetched_at, int | float) or isinstance(fetched_at, bool)
                or not math.isfinite(fetched_at)):
            raise ManifestError("a file entry's fetched_at is not a finite number")
        stamp = data.get("stamp")
        if stamp is not None:
            if not isinstance(stamp, list) or len(stamp) != 5 or not all(map(_is_int, stamp)):
                raise ManifestError("a file entry's stamp is not five integers")
            stamp = tuple(stamp)
        return cls(size=size, sha256=sha256, fetched_at=fetched_at, stamp=stamp, **strings)


@dataclass(frozen=True)
class Snapshot:
    """One published set: which repo, which revision was asked for, which commit it is.

    ``commit`` is None only when the server never said (a mirror without
    ``X-Repo-Commit``); every file then came from the same request sequence, and a
    request pinned to a commit never matches it.
    """

    cache_key: str
    repo: str
    revision: str
    commit: str | None
    files: Mapping[str, ManifestEntry] = field(default_factory=dict)
    created_at: float | None = None
    #: How the set's files were chosen, when they were not all named by the caller
    #: (discovery, include patterns, optional files): a later request with the same
    #: selection is served this set without listing the repo again (issue 11).
    selection: Selection | None = None

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "cache_key": self.cache_key,
            "repo": self.repo,
            "revision": self.revision,
            "commit": self.commit,
            "created_at": self.created_at,
            "files": {name: e.to_dict() for name, e in sorted(self.files.items())},
        }
        if self.selection is not None:
            doc["selection"] = self.selection.to_dict()
        return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Snapshot:
        """Strict and total (see the module docstring)."""
        if len(data) > MAX_MANIFEST_BYTES:
            raise ManifestError(f"larger than {MAX_MANIFEST_BYTES} bytes")
        try:
            doc = json.loads(data, parse_constant=_no_constants)
        except (ValueError, RecursionError, UnicodeDecodeError) as exc:
            raise ManifestError(f"not valid JSON ({type(exc).__name__})") from None
        if not isinstance(doc, dict):
            raise ManifestError("not a JSON object")
        if doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise ManifestError(f"not a {FORMAT} manifest of version {VERSION}")
        text: dict[str, str | None] = {}
        for name, required in (("cache_key", True), ("repo", True), ("revision", True),
                               ("commit", False)):
            value = doc.get(name)
            if (value is None and required) or (value is not None and not isinstance(value, str)):
                raise ManifestError(f"{name} is missing or not a string")
            text[name] = value
        created = doc.get("created_at")
        if created is not None and (not isinstance(created, int | float)
                                    or isinstance(created, bool)
                                    or not math.isfinite(created)):
            raise ManifestError("created_at is not a finite number")
        files = doc.get("files")
        if not isinstance(files, dict):
            raise ManifestError("files is not an object")
        entries = {}
        for name, entry in files.items():
            try:  # a name leading out of the snapshot ('../x') is never linked or served
                check_file(name)
            except InvalidRequest:
                raise ManifestError(f"{safe_text(str(name))[:80]!r} is not a file name the "
                                    "cache can hold") from None
            parsed = ManifestEntry.from_dict(entry)
            if parsed.sha256 is None:
                raise ManifestError(f"{name!r} has no sha256")
            entries[name] = parsed
        selection = None
        if doc.get("selection") is not None:
            try:
                selection = Selection.from_dict(doc["selection"])
            except ValueError as exc:
                raise ManifestError(str(exc)) from None
        return cls(cache_key=str(text["cache_key"]), repo=str(text["repo"]),
                   revision=str(text["revision"]), commit=text["commit"], files=entries,
                   created_at=created, selection=selection)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


Manifest = Mapping[str, ManifestEntry]
