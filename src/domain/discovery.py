"""Which files of a repo make up its tokenizer: the preset, patterns, and hostile listings.

Pure decisions, no I/O (issue 11). A request without explicit ``files`` is *discovered*:
the repo is listed at one commit (``RepoListing``, from the Hub API) and ``select``
picks its tokenizer files. The listing is untrusted input: ``checked_listing`` refuses
it whole (``ListingRefused``) when an entry could escape the cache or is absurd, before
any file is fetched or written.

The preset (``TOKENIZER_PRESET``) is what ``AutoTokenizer.from_pretrained`` and an
inference server read, and nothing else: tests load the selected directory offline
with ``transformers`` and compare it with a full ``snapshot_download`` of the same repo
(encodings, chat template), for a WordPiece (BERT), a SentencePiece + ``tokenizer.json``
(Llama) and a byte-level BPE (GPT-2) repo. Preset patterns match at the repo root only
(so ``onnx/tokenizer.json`` of a repo's export folder is not picked), except
``additional_chat_templates/*.jinja`` which names its folder.

``include`` / ``exclude`` are ``fnmatch`` patterns on the repo path, like
``huggingface_hub``'s ``allow_patterns`` / ``ignore_patterns`` (``*`` also matches ``/``;
a pattern ending in ``/`` means everything under that folder). ``include`` *adds* to
the preset (a repo's ``tokenization_*.py``, an ``onnx/`` folder); ``exclude`` removes
from the preset and from ``include`` alike (it wins, as ``ignore_patterns`` does).
Explicitly named ``files`` are always required and never excluded; ``optional_files``
are taken when the listing has them and skipped otherwise.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidRequest, ListingRefused, TokenizerNotFound

#: The tokenizer preset, by role. ``config.json`` is read by ``AutoTokenizer`` to choose
#: the tokenizer class; ``generation_config.json`` holds the eos ids servers stop on.
TOKENIZER_CORE = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                  "added_tokens.json")
TOKENIZER_MODELS = ("tokenizer.model", "spiece.model", "sentencepiece.bpe.model",
                    "*.tiktoken")
TOKENIZER_VOCABULARIES = ("vocab.json", "vocab.txt", "merges.txt")
CHAT_TEMPLATES = ("chat_template.jinja", "chat_template.json",
                  "additional_chat_templates/*.jinja")
MODEL_CONFIGS = ("config.json", "generation_config.json")
TOKENIZER_PRESET = (*TOKENIZER_CORE, *TOKENIZER_MODELS, *TOKENIZER_VOCABULARIES,
                    *CHAT_TEMPLATES, *MODEL_CONFIGS)
#: Files that alone make a tokenizer: a repo with none of them has no tokenizer to serve
#: (a config or a chat template alone does not).
TOKENIZER_DEFINING = (*TOKENIZER_CORE, *TOKENIZER_MODELS, *TOKENIZER_VOCABULARIES)

#: Entries in one listing (all pages together) beyond which it is refused.
MAX_ENTRIES = 10_000
#: No single file of a repo we would select is larger (LFS allows 50 GB per file).
MAX_ENTRY_BYTES = 1 << 40
#: Names a ``TokenizerNotFound`` for a repo without a tokenizer shows.
SHOWN_NAMES = 20
_MAX_PATTERNS = 64
_MAX_PATTERN_CHARS = 512


@dataclass(frozen=True)
class RepoEntry:
    """One file of a listing: its size, and its digests as the Hub names them.

    ``sha256`` is the LFS object id (LFS files only); ``git_sha1`` the git blob id of a
    regular file (for an LFS file the Hub's ``blobId`` is the pointer's, so it is not
    kept: it says nothing about the bytes served).
    """

    path: str
    size: int | None = None
    sha256: str | None = None
    git_sha1: str | None = None


@dataclass(frozen=True)
class RepoListing:
    """A repo's files at one commit, as an endpoint listed them."""

    repo: str
    revision: str
    commit: str | None
    entries: tuple[RepoEntry, ...]

    def entry(self, path: str) -> RepoEntry | None:
        for candidate in self.entries:
            if candidate.path == path:
                return candidate
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.path for e in self.entries)


@dataclass(frozen=True)
class Selection:
    """How a request chooses its files; recorded with a discovered set, so a later
    cache-only request with the same selection is served the same files."""

    files: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    optional_files: tuple[str, ...] = ()
    preset: str | None = "tokenizer"

    def to_dict(self) -> dict[str, Any]:
        return {"files": list(self.files), "include": list(self.include),
                "exclude": list(self.exclude), "optional_files": list(self.optional_files),
                "preset": self.preset}

    @classmethod
    def from_dict(cls, data: Any) -> Selection:
        """Strict: ``ValueError`` for anything but the shape ``to_dict`` writes."""
        if not isinstance(data, Mapping):
            raise ValueError("selection is not an object")
        lists: dict[str, tuple[str, ...]] = {}
        for name in ("files", "include", "exclude", "optional_files"):
            value = data.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value) \
                    or len(value) > MAX_ENTRIES:
                raise ValueError(f"selection {name} is not a list of strings")
            lists[name] = tuple(value)
        preset = data.get("preset")
        if preset is not None and preset != "tokenizer":
            raise ValueError("selection preset is unknown")
        return cls(preset=preset, **lists)


@dataclass(frozen=True)
class Chosen:
    """What ``select`` picked: every file to fetch, and which of them were optional."""

    files: tuple[str, ...]
    optional_absent: tuple[str, ...] = ()
    entries: Mapping[str, RepoEntry] = field(default_factory=dict)


def check_patterns(name: str, patterns: object) -> tuple[str, ...]:
    """A tuple of fnmatch patterns (a string is one pattern); ``InvalidRequest`` otherwise."""
    if patterns is None:
        return ()
    if isinstance(patterns, str):
        patterns = (patterns,)
    if not isinstance(patterns, Iterable):
        raise InvalidRequest(name, patterns, "must be a sequence of fnmatch patterns")
    out = tuple(patterns)
    if len(out) > _MAX_PATTERNS:
        raise InvalidRequest(name, f"{len(out)} patterns", f"at most {_MAX_PATTERNS}")
    for pattern in out:
        if not isinstance(pattern, str) or not pattern or len(pattern) > _MAX_PATTERN_CHARS \
                or "\x00" in pattern:
            raise InvalidRequest(name, pattern, "a pattern must be a non-empty string of at "
                                 f"most {_MAX_PATTERN_CHARS} characters without NUL")
    return tuple(dict.fromkeys(out))


def _expand(pattern: str) -> str:
    # huggingface_hub's rule: "folder/" means everything under it.
    return pattern + "*" if pattern.endswith("/") else pattern


def matches_any(path: str, patterns: Sequence[str]) -> bool:
    """``huggingface_hub``'s ``filter_repo_objects`` matching (``fnmatch``, case-sensitive)."""
    return any(fnmatch.fnmatchcase(path, _expand(p)) for p in patterns)


def in_preset(path: str, preset: Sequence[str] = TOKENIZER_PRESET) -> bool:
    """A preset pattern matches a path with as many folders as the pattern has."""
    depth = path.count("/")
    return any(depth == p.count("/") and fnmatch.fnmatchcase(path, p) for p in preset)


def checked_listing(listing: RepoListing, *, check_file: Any = None) -> RepoListing:
    """The listing when every entry is safe to fetch; ``ListingRefused`` otherwise.

    ``check_file`` (the request's file rule, raising ``InvalidRequest``) refuses paths
    the cache could not hold: ``..``, absolute, NUL, backslash, control characters.
    """
    if len(listing.entries) > MAX_ENTRIES:
        raise ListingRefused(listing.repo, f"more than {MAX_ENTRIES} entries")
    seen: set[str] = set()
    folded: set[str] = set()
    for entry in listing.entries:
        path = entry.path
        if not isinstance(path, str) or not path:
            raise ListingRefused(listing.repo, "an entry without a path")
        shown = path[:200].replace("\x00", "\\x00")
        if "\x00" in path or path.startswith("/") or "\\" in path \
                or ".." in path.split("/"):
            raise ListingRefused(listing.repo, f"unsafe path {shown!r}", entry=shown)
        if check_file is not None:
            try:
                check_file(path)
            except InvalidRequest as refused:
                raise ListingRefused(listing.repo, f"unsafe path {shown!r} ({refused.reason})",
                                     entry=shown) from None
        if entry.size is not None and not (0 <= entry.size <= MAX_ENTRY_BYTES):
            raise ListingRefused(listing.repo, f"absurd size {entry.size} for {shown!r}",
                                 entry=shown)
        if path in seen:
            raise ListingRefused(listing.repo, f"duplicate entry {shown!r}", entry=shown)
        seen.add(path)
        folded.add(path.casefold())
    if len(folded) != len(seen):
        raise ListingRefused(listing.repo, "entries whose names differ only by case")
    return listing


def select(listing: RepoListing, selection: Selection, *, cache_key: str) -> Chosen:
    """The files to fetch, in a stable order: explicit files first, then the listing's.

    Raises ``TokenizerNotFound`` when discovery finds no tokenizer-defining file (it names
    the first ``SHOWN_NAMES`` files the repo has) and ``EntryNotFound``-like
    ``TokenizerNotFound`` when an explicit file is not in the listing.
    """
    names = listing.names
    present = set(names)
    required = list(selection.files)
    absent = [f for f in required if f not in present]
    if absent:
        raise TokenizerNotFound(
            cache_key, absent, suggestions=[
                f"{listing.repo} at {_at(listing)} has no {', '.join(absent[:SHOWN_NAMES])}",
                _has(listing)])
    picked = dict.fromkeys(required)
    for name in selection.optional_files:
        if name in present:
            picked[name] = None
    discovered: list[str] = []
    for name in sorted(names):
        if name in picked:
            continue
        chosen = (selection.preset is not None and in_preset(name)) \
            or matches_any(name, selection.include)
        if chosen and not matches_any(name, selection.exclude):
            discovered.append(name)
    if selection.preset is not None and not selection.files:
        defining = [n for n in discovered if in_preset(n, TOKENIZER_DEFINING)]
        if not defining and not (selection.include and discovered):
            raise TokenizerNotFound(
                cache_key, list(TOKENIZER_DEFINING),
                suggestions=[f"{listing.repo} at {_at(listing)} has none of the tokenizer "
                             f"files ({', '.join(TOKENIZER_DEFINING)})", _has(listing),
                             "name the files explicitly (-f FILE), or add --include PATTERN"])
    for name in discovered:
        picked[name] = None
    files = tuple(picked)
    if not files:
        raise TokenizerNotFound(
            cache_key, list(selection.include) or ["(no file)"],
            suggestions=["the include/exclude patterns select no file", _has(listing)])
    entries = {n: e for n in files if (e := listing.entry(n)) is not None}
    optional_absent = tuple(n for n in selection.optional_files if n not in present)
    return Chosen(files=files, optional_absent=optional_absent, entries=entries)


def select_present(names: Iterable[str], selection: Selection, *, cache_key: str,
                   repo: str, revision: str) -> Chosen:
    """``select`` over the files a directory holds (an operator's, an HF cache's)."""
    listing = RepoListing(repo=repo, revision=revision, commit=None,
                          entries=tuple(RepoEntry(n) for n in names))
    return select(listing, selection, cache_key=cache_key)


def _at(listing: RepoListing) -> str:
    return f"{listing.revision} ({listing.commit[:12]})" if listing.commit else listing.revision


def _has(listing: RepoListing) -> str:
    names = sorted(listing.names)
    if not names:
        return "it lists no files at all"
    shown = ", ".join(names[:SHOWN_NAMES])
    more = f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else ""
    return f"it has: {shown}{more}"
