"""Hostile names: no request, and no link placed in the cache, reaches outside the cache."""

from __future__ import annotations

import asyncio
import contextlib
import os
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reliability.conftest import Results
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
from tokenizer_acquisition.domain.errors import (
    AcquisitionError,
    CacheWriteError,
    InvalidRequest,
)
from tokenizer_acquisition.strategies import CacheOnlyAcquisition

COMMAND = "pytest tests/reliability/test_hostile_paths.py"
ROOT = Path("/srv/cache")

#: Pieces an attacker strings together: traversal, separators, and their Unicode lookalikes.
TRICKS = [
    "..", ".", "/", "\\", "\x00", "~", ":", "C:", "//", "./", "../", "%2e%2e", "%2f",
    "\uff0e",  # fullwidth full stop: NFKC "."
    "\uff0f",  # fullwidth solidus: NFKC "/"
    "\uff3c",  # fullwidth reverse solidus: NFKC "\\"
    "\u2024",  # one dot leader: NFKC "."
    "\u2025",  # two dot leader: NFKC ".."
    "\ufe52",  # small full stop
    "\u2215",  # division slash
    "\u2044",  # fraction slash
    "\u202e",  # right-to-left override
    "\u200b",  # zero width space
    "\u200d",  # zero width joiner
    "\ufeff",  # byte order mark
    "\u0338",  # combining long solidus overlay
    "e\u0301",  # decomposed é
    "\n", "\r", "\t", " ", ".tokacq", ".tokacq-partial", ".tokacq-tmp",
    "tokenizer.json", "sub", "a",
]
hostile = st.lists(st.one_of(st.sampled_from(TRICKS), st.text(max_size=4)),
                   min_size=1, max_size=8).map("".join)


def _inside(path: str, directory: Path) -> bool:
    """Lexically (no filesystem): does ``path`` stay under ``directory``?"""
    resolved = Path(os.path.normpath(directory / path))
    return resolved.is_relative_to(directory) and resolved != directory


def _build(**fields: Any) -> TokenizerDownloadInfo | None:
    values: dict[str, Any] = {"repo": "org/name", "cache_key": "key",
                              "files": ("tokenizer.json",)}
    values.update(fields)
    try:
        return TokenizerDownloadInfo(**values)
    except InvalidRequest:
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=hostile)
def test_accepted_file_names_stay_inside_their_directory(name: str, results: Results) -> None:
    """Any file name accepted, raw or NFKC-folded, resolves under <cache>/<key>, not bookkeeping."""
    info = _build(files=(name,))
    ok = True
    if info is not None:
        directory = FileSystemCache(ROOT).directory(info.cache_key)
        for candidate in {name, unicodedata.normalize("NFKC", name)}:
            ok = ok and _inside(candidate, directory) and "\x00" not in candidate
            ok = ok and ".tokacq" not in Path(candidate).parts
        staged = FileSystemCache(ROOT).staging_path(info.cache_key, name, "tag")
        ok = ok and staged.parent == ROOT / ".tokacq" / "partials" / info.cache_key
    results.add("hostile file names and cache keys (property)", runs=1, passed=int(ok),
                command=COMMAND)
    assert ok, name


@settings(max_examples=400, deadline=None)
@given(key=hostile)
def test_accepted_cache_keys_are_one_plain_segment(key: str, results: Results) -> None:
    """Any cache key accepted is one segment directly under the root, never bookkeeping."""
    info = _build(cache_key=key)
    ok = info is None or (
        Path(os.path.normpath(ROOT / key)).parent == ROOT
        and not key.startswith(".") and "/" not in key and "\\" not in key)
    results.add("hostile file names and cache keys (property)", runs=1, passed=int(ok),
                command=COMMAND)
    assert ok, key


anything = st.one_of(st.none(), st.integers(), st.binary(max_size=8), st.floats(),
                     st.lists(st.text(max_size=3), max_size=3), hostile,
                     st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))


@settings(max_examples=300, deadline=None)
@given(repo=anything, key=anything, files=anything, revision=anything, vocab=anything,
       pins=anything)
def test_any_request_fields_fail_only_with_invalid_request(
        repo: Any, key: Any, files: Any, revision: Any, vocab: Any, pins: Any,
        results: Results) -> None:
    """Arbitrary values for every field: a request, or InvalidRequest; no other exception."""
    ok = True
    try:
        TokenizerDownloadInfo(repo, key, files, expected_vocab=vocab, revision=revision,
                              sha256=pins)
    except InvalidRequest:
        pass
    except Exception:
        ok = False
        raise
    finally:
        results.add("request fields of any type (property)", runs=1, passed=int(ok),
                    command=COMMAND)


# -- links placed in the cache by hand ---------------------------------------------------------

def _layouts(tmp: Path) -> dict[str, tuple[Path, Path]]:
    """(cache root, secret outside it) for each way a link can lead out of the cache."""
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "tokenizer.json").write_text('{"secret": true}')
    (outside / "sub").mkdir()
    (outside / "sub" / "tokenizer.json").write_text('{"secret": true}')
    made: dict[str, tuple[Path, Path]] = {}
    for layout in ("file", "key-dir", "sub-dir", "relative-file"):
        root = tmp / layout / "cache"
        (root / "key").mkdir(parents=True)
        if layout == "file":
            (root / "key" / "tokenizer.json").symlink_to(outside / "tokenizer.json")
        elif layout == "key-dir":
            (root / "key").rmdir()
            (root / "key").symlink_to(outside)
        elif layout == "sub-dir":
            (root / "key" / "sub").symlink_to(outside / "sub")
        else:
            (root / "key" / "tokenizer.json").symlink_to(
                Path(os.path.relpath(outside / "tokenizer.json", root / "key")))
        made[layout] = (root, outside)
    return made


FILES_BY_LAYOUT = {"file": "tokenizer.json", "key-dir": "tokenizer.json",
                   "sub-dir": "sub/tokenizer.json", "relative-file": "tokenizer.json"}


@pytest.mark.parametrize("layout", [
    "file", "relative-file",
    "key-dir", "sub-dir",
])
def test_links_out_of_the_cache_are_never_served(tmp_path: Path, layout: str,
                                                 results: Results) -> None:
    """A link in the cache pointing outside it is a miss for cache-only, never the outside file."""
    root, _ = _layouts(tmp_path)[layout]
    info = TokenizerDownloadInfo("org/name", "key", (FILES_BY_LAYOUT[layout],))
    served: Path | None = None
    with contextlib.suppress(AcquisitionError):
        served = asyncio.run(CacheOnlyAcquisition(root).acquire(info)).path
    ok = served is None
    results.add("links placed in the cache pointing outside", runs=1, passed=int(ok),
                command=COMMAND)
    assert ok, f"served {served} -> {served.resolve() if served else None} from outside"


@pytest.mark.parametrize("layout", ["key-dir", "sub-dir"])
async def test_downloads_never_write_through_links_out_of_the_cache(
        tmp_path: Path, layout: str, results: Results) -> None:
    """A download into a cache holding such a link leaves the outside file untouched."""
    from support.network import network
    from tokenizer_acquisition.testing import HubSimulator

    root, outside = _layouts(tmp_path)[layout]
    name = FILES_BY_LAYOUT[layout].replace("tokenizer.json", "vocab.txt")  # a miss
    before = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    async with HubSimulator() as sim:
        sim.add_repo("org/name", {name: b"[PAD]\n[UNK]\n"})
        strategy = network(sim, root)
        try:
            with pytest.raises(CacheWriteError):
                await strategy.acquire(TokenizerDownloadInfo("org/name", "key", (name,)))
        finally:
            await strategy.aclose()
    after = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    ok = after == before and not list(tmp_path.glob("outside/**/vocab.txt"))
    results.add("links placed in the cache pointing outside", runs=1, passed=int(ok),
                command=COMMAND)
    assert ok, f"files outside the cache changed: {sorted(set(after) ^ set(before))}"
