"""Lock files: the exact commits and file hashes a deployment runs with, as TOML.

::

    version = 1

    [[entry]]
    repo = "sentence-transformers/all-MiniLM-L6-v2"
    revision = "main"
    commit = "<40 hex>"
    file = "tokenizer.json"
    size = 711661
    sha256 = "<64 hex>"

Entries of one repo and revision form one request (``LockFile.requests()``): its revision
is the locked commit and its sha256 pins are the locked hashes, so any ordinary strategy
fetches exactly that commit and rejects other bytes. The cache key is the default one for
the locked *revision* (``domain.cache_key``), so ``tokacq fetch REPO`` and a fetch from
the lock file share one cache directory. Parsing and formatting are pure (text in, text
out); reading and writing the file is the caller's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .cache_key import default_cache_key
from .errors import ConfigurationError, InvalidRequest
from .request import TokenizerDownloadInfo, check_revision

LOCK_VERSION = 1
FIELDS = ("repo", "revision", "commit", "file", "size", "sha256")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
HEADER = ("# Written by `tokacq lock`. Fetch exactly these files with "
          "`tokacq fetch --lock <this file>`.\n")


@dataclass(frozen=True)
class LockEntry:
    """One locked file of one repo at one commit."""

    repo: str
    revision: str
    commit: str
    file: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


@dataclass(frozen=True)
class LockFile:
    """Validated entries; build with ``LockFile(entries)`` or ``LockFile.parse(text)``."""

    entries: tuple[LockEntry, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(self.entries))
        _validate(self.entries, "lock file")

    @classmethod
    def parse(cls, text: str, source: str = "lock file") -> LockFile:
        """Read TOML text; any problem is a ``ConfigurationError`` naming key and source."""
        import tomllib  # only when a lock file is read: not at the package's import

        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"not valid TOML: {exc}", key="lock", source=source,
                                     suggestions=["regenerate it with 'tokacq lock'"]) from None
        unknown = sorted(set(doc) - {"version", "entry"})
        if unknown:
            raise _bad(unknown[0], doc[unknown[0]], source, "no such key (version, entry)")
        if doc.get("version") != LOCK_VERSION:
            raise _bad("version", doc.get("version"), source, f"version = {LOCK_VERSION}")
        raw = doc.get("entry")
        if not isinstance(raw, list) or not raw:
            raise _bad("entry", raw, source, "at least one [[entry]] table")
        entries = tuple(_entry(i, item, source) for i, item in enumerate(raw))
        _validate(entries, source)
        return cls(entries)

    def to_toml(self) -> str:
        """TOML text, entries sorted by repo, revision and file (stable diffs)."""
        lines = [HEADER, f"version = {LOCK_VERSION}\n"]
        for e in sorted(self.entries, key=lambda e: (e.repo, e.revision, e.file)):
            lines.append("\n[[entry]]\n")
            for name in FIELDS:
                value = getattr(e, name)
                shown = str(value) if isinstance(value, int) else toml_string(value)
                lines.append(f"{name} = {shown}\n")
        return "".join(lines)

    def groups(self) -> dict[tuple[str, str], tuple[LockEntry, ...]]:
        """Entries by (repo, revision), in file order of first appearance."""
        out: dict[tuple[str, str], list[LockEntry]] = {}
        for e in self.entries:
            out.setdefault((e.repo, e.revision), []).append(e)
        return {k: tuple(v) for k, v in out.items()}

    def requests(self, expected_vocab: Mapping[str, int] | None = None
                 ) -> list[TokenizerDownloadInfo]:
        """One request per (repo, revision): the locked commit, every file pinned.

        ``expected_vocab`` optionally maps a repo to its vocabulary size.
        """
        return [_request(group, (expected_vocab or {}).get(repo))
                for (repo, _), group in self.groups().items()]


def _request(group: tuple[LockEntry, ...], vocab: int | None) -> TokenizerDownloadInfo:
    first = group[0]
    return TokenizerDownloadInfo(
        repo=first.repo, cache_key=default_cache_key(first.repo, first.revision),
        files=tuple(e.file for e in group), expected_vocab=vocab, revision=first.commit,
        sha256={e.file: e.sha256 for e in group})


def _entry(index: int, item: object, source: str) -> LockEntry:
    where = f"entry[{index}]"
    if not isinstance(item, dict):
        raise _bad(where, item, source, "a table")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise _bad(f"{where}.{unknown[0]}", item[unknown[0]], source,
                   f"no such key ({', '.join(FIELDS)})")
    for name in FIELDS:
        if name not in item:
            raise _bad(f"{where}.{name}", None, source, "a value (the key is missing)")
    size = item["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _bad(f"{where}.size", size, source, "a non-negative integer")
    for name in ("repo", "revision", "commit", "file", "sha256"):
        if not isinstance(item[name], str):
            raise _bad(f"{where}.{name}", item[name], source, "a string")
    return LockEntry(item["repo"], item["revision"], item["commit"].lower(), item["file"],
                     size, item["sha256"].lower())


def _validate(entries: Iterable[LockEntry], source: str) -> None:
    seen: set[tuple[str, str, str]] = set()
    commits: dict[tuple[str, str], str] = {}
    groups: dict[tuple[str, str], list[LockEntry]] = {}
    for i, e in enumerate(entries):
        where = f"entry[{i}]"
        if not _COMMIT.match(e.commit):
            raise _bad(f"{where}.commit", e.commit, source, "40 lowercase hex digits")
        if not _SHA256.match(e.sha256):
            raise _bad(f"{where}.sha256", e.sha256, source, "64 lowercase hex digits")
        if (e.repo, e.revision, e.file) in seen:
            raise _bad(f"{where}.file", e.file, source,
                       f"each file once per repo and revision ({e.repo}@{e.revision})")
        seen.add((e.repo, e.revision, e.file))
        commit = commits.setdefault((e.repo, e.revision), e.commit)
        if commit != e.commit:
            raise _bad(f"{where}.commit", e.commit, source,
                       f"one commit per repo and revision ({e.repo}@{e.revision} is {commit})")
        groups.setdefault((e.repo, e.revision), []).append(e)
    for (repo, revision), group in groups.items():
        try:
            _request(tuple(group), None)  # the repo, files and pins (its revision is the commit)
            check_revision(revision)
        except InvalidRequest as exc:
            raise ConfigurationError(f"invalid entry for {repo!r}: {exc.message}",
                                     key=exc.field, value=exc.value, source=source,
                                     suggestions=["regenerate it with 'tokacq lock'"]) from None


def _bad(key: str, value: object, source: str, expected: str) -> ConfigurationError:
    return ConfigurationError(f"lock key {key!r} = {value!r} is invalid: expected {expected}",
                              key=key, value=value, source=source,
                              suggestions=["regenerate it with 'tokacq lock'"])


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


def toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters (and DEL) escaped."""
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
