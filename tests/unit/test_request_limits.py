"""Requests that cannot work fail up front as InvalidRequest; long lists are summarized."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.hf_cache_layout import add_snapshot, storage
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.adapters.hf_cache_source import HfCacheSource
from tokenizer_acquisition.domain.errors import InvalidRequest, TokenizerNotFound
from tokenizer_acquisition.entrypoints.exit_codes import ExitCode, exit_code_for

COMMIT = "a" * 40


def _invalid(**fields: object) -> InvalidRequest:
    values: dict[str, object] = {"repo": "org/m", "cache_key": "k", "files": ("tokenizer.json",)}
    values.update(fields)
    with pytest.raises(InvalidRequest) as caught:
        TokenizerDownloadInfo(**values)  # type: ignore[arg-type]
    assert exit_code_for(caught.value) is ExitCode.USAGE
    return caught.value


# -- item 8 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a" * 256, "dir/" + "é" * 128, "木" * 86 + ".json"])
def test_a_path_segment_over_255_bytes_is_an_invalid_request(name: str) -> None:
    """File systems refuse names over 255 bytes: say so before any I/O, not OSError later."""
    error = _invalid(files=(name,))
    assert error.field == "files" and "255" in error.reason


def test_a_segment_of_exactly_255_bytes_is_accepted() -> None:
    """The limit is inclusive: 255 bytes of UTF-8 in one segment is fine."""
    TokenizerDownloadInfo("org/m", "k", ("a" * 255, "d/" + "é" * 127 + "x"))


# -- item 16 -----------------------------------------------------------------------------------

def test_expected_vocab_without_a_countable_file_is_rejected_up_front() -> None:
    """expected_vocab needs tokenizer.json, tokenizer.model or vocab.txt in the set."""
    error = _invalid(files=("tokenizer_config.json", "special_tokens_map.json"),
                     expected_vocab=30522)
    assert error.field == "expected_vocab" and "vocab.txt" in error.reason
    for countable in ("tokenizer.json", "sub/tokenizer.model", "vocab.txt"):
        TokenizerDownloadInfo("org/m", "k", ("config.json", countable), expected_vocab=3)


# -- item 20 -----------------------------------------------------------------------------------

def test_a_too_long_revision_says_too_long() -> None:
    """A 300-character revision is reported as too long, not as "must be non-empty"."""
    error = _invalid(revision="r" * 300)
    assert error.field == "revision"
    assert "300 characters" in error.reason and "non-empty" not in error.reason
    assert len(str(error)) < 300


def test_a_miss_of_thousands_of_files_is_summarized() -> None:
    """3,000 missing files: the message names 20 of them and counts the rest."""
    files = [f"part-{i:04d}.json" for i in range(3000)]
    error = TokenizerNotFound("k", files, directory=Path("/cache/k"))
    assert len(str(error)) < 2000
    assert "part-0019.json and 2980 more" in error.message
    assert error.missing_files == tuple(files)  # the complete list stays in the field


def test_the_hf_cache_hint_names_how_to_make_a_snapshot(tmp_path: Path) -> None:
    """Without a ref for the revision, the hint does not name a bare '.../snapshots'."""
    source = HfCacheSource(tmp_path)
    info = TokenizerDownloadInfo("org/m", "k", ("tokenizer.json",))
    add_snapshot(tmp_path, "org/m", COMMIT, {"config.json": b"{}"})  # no refs/main
    located = source.locate(info)
    hint = source.placement_hint(info, located, "tokenizer.json")
    snapshots = storage(tmp_path, "org/m") / "snapshots"
    assert f"{snapshots}/<commit>/" in hint
    assert str(storage(tmp_path, "org/m") / "refs" / "main") in hint
    # With a known commit, the snapshot directory itself.
    pinned = TokenizerDownloadInfo("org/m", "k", ("tokenizer.json",), revision=COMMIT)
    located = source.locate(pinned)
    assert source.placement_hint(pinned, located, "tokenizer.json") == \
        f"place tokenizer.json in {snapshots / COMMIT}"
