"""What a caller asks for: a repo, a cache key, and the files that make up its tokenizer."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .discovery import Selection, check_patterns
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


def check_file(name: object) -> str:
    """A repo path the cache can hold (relative, no ``..``, NUL, control characters,
    reserved names); ``InvalidRequest`` (field ``files``) otherwise."""
    return _check_file(name)


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


@dataclass(frozen=True, init=False)
class TokenizerDownloadInfo:
    """A validated request: invalid input fails here, before any I/O.

    ``files`` named explicitly are required. Without ``files`` (``None``, the default)
    the set is *discovered*: the repo is listed at the resolved commit and its tokenizer
    files are picked by the preset (``domain/discovery.py``); ``include`` adds fnmatch
    patterns, ``exclude`` removes. ``optional_files`` are fetched when the repo has them
    and skipped otherwise. ``refresh`` re-resolves a branch or tag even when the cache
    holds a set for it (one listing request).
    """

    repo: str
    cache_key: str
    #: The explicit files; ``()`` for a discovered set (see ``discovers``).
    files: tuple[str, ...]
    expected_vocab: int | None
    revision: str
    sha256: Mapping[str, str] | None
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    optional_files: tuple[str, ...]
    refresh: bool
    #: The file acquisitions return (``primary_file``), decided once per request; ``""``
    #: until a discovered set is resolved.
    primary: str = field(init=False, repr=False, compare=False)

    def __init__(self, repo: str, cache_key: str, files: Iterable[str] | None = None,
                 expected_vocab: int | None = None, revision: str = "main",
                 sha256: Mapping[str, str] | None = None, *,
                 include: Iterable[str] | str | None = (),
                 exclude: Iterable[str] | str | None = (),
                 optional_files: Iterable[str] | None = (),
                 refresh: bool = False) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "repo", repo)
        setattr_(self, "cache_key", cache_key)
        setattr_(self, "expected_vocab", expected_vocab)
        setattr_(self, "revision", revision)
        setattr_(self, "sha256", sha256)
        setattr_(self, "refresh", bool(refresh))
        check_repo(repo)
        check_cache_key(cache_key)
        check_revision(revision)
        setattr_(self, "include", check_patterns("include", include))
        setattr_(self, "exclude", check_patterns("exclude", exclude))
        optional = () if optional_files is None else optional_files
        if isinstance(optional, str) or not isinstance(optional, Iterable):
            raise InvalidRequest("optional_files", optional,
                                 "must be a sequence of relative paths")
        optional_checked = tuple(dict.fromkeys(_check_file(f) for f in optional))
        setattr_(self, "optional_files", optional_checked)
        discovered = files is None
        if discovered:
            checked: tuple[str, ...] = ()
        else:
            if isinstance(files, str) or not isinstance(files, Iterable):
                raise InvalidRequest("files", files, "must be a sequence of relative paths")
            checked = tuple(_check_file(f) for f in files)
            if not checked and not optional_checked and not self.include:
                raise InvalidRequest("files", files, "at least one file is required "
                                     "(or files=None to discover the tokenizer's files)")
            if len(set(checked)) != len(checked):
                raise InvalidRequest("files", files, "duplicate file names")
            folded = [f.casefold() for f in checked]
            if len(set(folded)) != len(folded):
                raise InvalidRequest("files", files, "names differ only by case")
        setattr_(self, "files", checked)
        setattr_(self, "_discovers", discovered)
        setattr_(self, "primary", primary_file(checked) if checked else "")
        if self.expected_vocab is not None and (
            isinstance(self.expected_vocab, bool)
            or not isinstance(self.expected_vocab, int)
            or self.expected_vocab <= 0
        ):
            raise InvalidRequest("expected_vocab", self.expected_vocab,
                                 "must be a positive integer")
        if self.expected_vocab is not None and not self.needs_listing \
                and vocab_counter(self.primary) is None:
            # Known before any download: nothing in the set can be counted.
            raise InvalidRequest(
                "expected_vocab", self.expected_vocab,
                f"needs a file whose vocabulary can be counted among the files "
                f"({', '.join(PRIMARY_PREFERENCE)}); add one, or drop expected_vocab")
        if self.sha256 is not None:
            pinnable = None if self.needs_listing else checked
            setattr_(self, "sha256", _check_pins(self.sha256, pinnable))

    def __hash__(self) -> int:
        return hash((self.repo, self.cache_key, self.files, self.expected_vocab,
                     self.revision, self.sha256, self.include, self.exclude,
                     self.optional_files, self.refresh, self.discovers))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenizerDownloadInfo):
            return NotImplemented
        return self._identity() == other._identity()

    def _identity(self) -> tuple[object, ...]:
        return (self.repo, self.cache_key, self.files, self.expected_vocab, self.revision,
                self.sha256, self.include, self.exclude, self.optional_files, self.refresh,
                self.discovers)

    def __repr__(self) -> str:
        files = "None" if self.discovers else repr(self.files)
        extra = "".join(f", {name}={value!r}" for name, value in (
            ("include", self.include), ("exclude", self.exclude),
            ("optional_files", self.optional_files), ("refresh", self.refresh)) if value)
        return (f"TokenizerDownloadInfo(repo={self.repo!r}, cache_key={self.cache_key!r}, "
                f"files={files}, expected_vocab={self.expected_vocab!r}, "
                f"revision={self.revision!r}, sha256={self.sha256!r}{extra})")

    @property
    def discovers(self) -> bool:
        """No explicit ``files``: the set comes from the repo's listing and the preset."""
        return bool(self.__dict__["_discovers"])

    @property
    def needs_listing(self) -> bool:
        """The files are known only from a listing: discovery, ``include`` or optional files."""
        return self.discovers or bool(self.include) or bool(self.optional_files)

    @property
    def selection(self) -> Selection:
        """How this request chooses its files (recorded with a discovered set)."""
        return Selection(files=self.files, include=self.include, exclude=self.exclude,
                         optional_files=self.optional_files,
                         preset="tokenizer" if self.discovers else None)

    def resolved(self, files: Sequence[str]) -> TokenizerDownloadInfo:
        """The explicit request for the files a listing (or a recorded set) selected.

        Pins must name selected files; ``expected_vocab`` must find a countable one.
        """
        if self.sha256:
            unselected = sorted(set(self.sha256) - set(files))
            if unselected:
                raise InvalidRequest("sha256", unselected[0],
                                     "pins a file that the selection did not pick")
        return TokenizerDownloadInfo(
            repo=self.repo, cache_key=self.cache_key, files=tuple(files),
            expected_vocab=self.expected_vocab, revision=self.revision,
            sha256=dict(self.sha256) if self.sha256 else None, refresh=self.refresh)

    @property
    def is_pinned_commit(self) -> bool:
        """A 40-hex revision names one immutable commit."""
        return len(self.revision) == 40 and all(c in "0123456789abcdef" for c in self.revision)


def _check_pins(pins: Any, files: tuple[str, ...] | None) -> _FrozenMapping:
    """``files`` None: a discovered set, whose pins are checked once it is resolved."""
    if not isinstance(pins, Mapping):
        raise InvalidRequest("sha256", pins, "must be a mapping of file name to hex digest")
    clean: dict[str, str] = {}
    for name, digest in pins.items():
        if files is None:
            _check_file(name)
        elif name not in files:
            raise InvalidRequest("sha256", name, "pins a file that is not requested")
        if not isinstance(digest, str) or not _HEX64.match(digest):
            raise InvalidRequest("sha256", digest, f"digest for {name} must be 64 hex digits")
        clean[name] = digest.lower()
    return _FrozenMapping(clean)
