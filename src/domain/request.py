"""What a caller asks for: a repo, a cache key, and the files that make up its tokenizer."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import InvalidRequest
from .primary import PRIMARY_PREFERENCE, primary_file
from .vocab import vocab_counter

# The Hub's own rule (huggingface_hub.utils._validators.REPO_ID_REGEX).
_REPO_ID = re.compile(r"^(\b[\w\-.]+\b/)?\b[\w\-.]{1,96}\b$")
_CACHE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_REVISION_MAX = 256
#: The longest file name (one path segment) common file systems accept, in bytes.
SEGMENT_MAX_BYTES = 255

#: Names the cache keeps for itself; a requested file may never be one of them.
RESERVED_SEGMENTS = frozenset({".tokacq"})
RESERVED_SUFFIXES = (".tokacq-partial", ".tokacq-tmp")


def check_repo(repo: str) -> str:
    """The Hub's repo id rule; ``InvalidRequest`` (field ``repo``) otherwise."""
    if not isinstance(repo, str) or not _REPO_ID.match(repo):
        raise InvalidRequest(
            "repo", repo, "must look like 'name' or 'org/name' (letters, digits, -_.)")
    if "--" in repo or ".." in repo:
        raise InvalidRequest("repo", repo, "'--' and '..' are forbidden")
    if repo.endswith(".git"):
        raise InvalidRequest("repo", repo, "cannot end with '.git'")
    return repo


def check_cache_key(key: str) -> str:
    """One safe path segment; ``InvalidRequest`` (field ``cache_key``) otherwise."""
    if not isinstance(key, str) or not _CACHE_KEY.match(key) or key in (".", ".."):
        raise InvalidRequest(
            "cache_key", key, "must be one path segment of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (at most 128 characters)"
        )
    return key


def _check_file(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidRequest("files", name, "a file name must be a non-empty string")
    if "\x00" in name or "\\" in name:
        raise InvalidRequest("files", name, "NUL and backslash are not allowed")
    if unicodedata.normalize("NFKC", name) != name:
        raise InvalidRequest("files", name, "must be in Unicode normal form (NFKC)")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise InvalidRequest("files", name, "control and format characters are not allowed")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise InvalidRequest("files", name, "must be a relative path")
    parts = name.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise InvalidRequest("files", name, "empty, '.' and '..' segments are not allowed")
        if part in RESERVED_SEGMENTS or part.endswith(RESERVED_SUFFIXES):
            raise InvalidRequest("files", name, "collides with the cache's bookkeeping names")
        if len(part.encode("utf-8")) > SEGMENT_MAX_BYTES:
            raise InvalidRequest(
                "files", name, f"a path segment is {len(part.encode('utf-8'))} bytes in UTF-8; "
                f"file systems allow at most {SEGMENT_MAX_BYTES}")
    return name


def check_revision(revision: str) -> str:
    """A branch, tag or commit name safe in a URL; ``InvalidRequest`` otherwise."""
    if not isinstance(revision, str) or not revision:
        raise InvalidRequest("revision", revision, "must be a non-empty string")
    if len(revision) > _REVISION_MAX:
        raise InvalidRequest("revision", f"{revision[:40]}...",
                             f"is {len(revision)} characters long; at most {_REVISION_MAX} "
                             "are allowed")
    if any(ch in revision for ch in "\x00\\") or ".." in revision.split("/"):
        raise InvalidRequest("revision", revision, "NUL, backslash and '..' are not allowed")
    return revision


class _FrozenMapping(Mapping[str, str]):
    """A read-only, hashable mapping so the request itself stays hashable."""

    __slots__ = ("_items", "_view")

    def __init__(self, items: Mapping[str, str]) -> None:
        self._view = MappingProxyType(dict(sorted(items.items())))
        self._items = tuple(self._view.items())

    def __getitem__(self, key: str) -> str:
        return self._view[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._view)

    def __len__(self) -> int:
        return len(self._view)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._view) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return repr(dict(self._view))


@dataclass(frozen=True)
class TokenizerDownloadInfo:
    """A validated request: invalid input fails here, before any I/O."""

    repo: str
    cache_key: str
    files: tuple[str, ...]
    expected_vocab: int | None = None
    revision: str = "main"
    sha256: Mapping[str, str] | None = field(default=None)
    #: The file acquisitions return (``primary_file``), decided once per request.
    primary: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_repo(self.repo)
        check_cache_key(self.cache_key)
        check_revision(self.revision)
        files = self.files
        if isinstance(files, str) or not isinstance(files, Iterable):
            raise InvalidRequest("files", files, "must be a sequence of relative paths")
        checked = tuple(_check_file(f) for f in files)
        if not checked:
            raise InvalidRequest("files", files, "at least one file is required")
        if len(set(checked)) != len(checked):
            raise InvalidRequest("files", files, "duplicate file names")
        folded = [f.casefold() for f in checked]
        if len(set(folded)) != len(folded):
            raise InvalidRequest("files", files, "names differ only by case")
        object.__setattr__(self, "files", checked)
        object.__setattr__(self, "primary", primary_file(checked))
        if self.expected_vocab is not None and (
            isinstance(self.expected_vocab, bool)
            or not isinstance(self.expected_vocab, int)
            or self.expected_vocab <= 0
        ):
            raise InvalidRequest("expected_vocab", self.expected_vocab,
                                 "must be a positive integer")
        if self.expected_vocab is not None and vocab_counter(self.primary) is None:
            # Known before any download: nothing in the set can be counted.
            raise InvalidRequest(
                "expected_vocab", self.expected_vocab,
                f"needs a file whose vocabulary can be counted among the files "
                f"({', '.join(PRIMARY_PREFERENCE)}); add one, or drop expected_vocab")
        if self.sha256 is not None:
            object.__setattr__(self, "sha256", _check_pins(self.sha256, checked))

    def __hash__(self) -> int:
        return hash((self.repo, self.cache_key, self.files, self.expected_vocab,
                     self.revision, self.sha256))

    @property
    def is_pinned_commit(self) -> bool:
        """A 40-hex revision names one immutable commit."""
        return len(self.revision) == 40 and all(c in "0123456789abcdef" for c in self.revision)


def _check_pins(pins: Any, files: tuple[str, ...]) -> _FrozenMapping:
    if not isinstance(pins, Mapping):
        raise InvalidRequest("sha256", pins, "must be a mapping of file name to hex digest")
    clean: dict[str, str] = {}
    for name, digest in pins.items():
        if name not in files:
            raise InvalidRequest("sha256", name, "pins a file that is not requested")
        if not isinstance(digest, str) or not _HEX64.match(digest):
            raise InvalidRequest("sha256", digest, f"digest for {name} must be 64 hex digits")
        clean[name] = digest.lower()
    return _FrozenMapping(clean)
