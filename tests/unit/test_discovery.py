"""Discovery as pure decisions: the preset per repo shape, include/exclude, hostile listings."""

from __future__ import annotations

import pytest

from tokenizer_acquisition import InvalidRequest, ListingRefused, TokenizerNotFound
from tokenizer_acquisition.domain.discovery import (
    MAX_ENTRIES,
    MAX_ENTRY_BYTES,
    SHOWN_NAMES,
    RepoEntry,
    RepoListing,
    Selection,
    check_patterns,
    checked_listing,
    in_preset,
    matches_any,
    select,
    select_present,
)
from tokenizer_acquisition.domain.request import check_file

WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model-00001-of-00002.safetensors",
           "model.safetensors.index.json", "onnx/model.onnx", "README.md", ".gitattributes")
BERT = ("config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json",
        "vocab.txt", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json")
LLAMA = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "chat_template.jinja",
         "special_tokens_map.json", "config.json", "generation_config.json",
         "onnx/tokenizer.json", "onnx/config.json")
GPT2 = ("vocab.json", "merges.txt", "config.json")
PRESET = Selection()


def listing(*names: str, repo: str = "org/name") -> RepoListing:
    return RepoListing(repo=repo, revision="main", commit="c" * 40,
                       entries=tuple(RepoEntry(n, size=10) for n in names))


def picked(names: tuple[str, ...], selection: Selection = PRESET) -> set[str]:
    return set(select(listing(*names), selection, cache_key="k").files)


# -- the preset, per repo shape ----------------------------------------------------------------

@pytest.mark.parametrize(("shape", "expected"), [
    (BERT, {"config.json", "special_tokens_map.json", "tokenizer.json",
            "tokenizer_config.json", "vocab.txt"}),
    (LLAMA, {"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
             "chat_template.jinja", "special_tokens_map.json", "config.json",
             "generation_config.json"}),
    (GPT2, {"vocab.json", "merges.txt", "config.json"}),
], ids=["bert", "llama", "gpt2"])
def test_the_preset_picks_exactly_the_tokenizer_files_of_each_shape(
        shape: tuple[str, ...], expected: set[str]) -> None:
    """BERT (vocab.txt), Llama (tokenizer.model + chat template), GPT-2 (vocab + merges):
    the tokenizer's files, no weights, no README, nothing in a subfolder."""
    assert picked((*shape, *WEIGHTS)) == expected


def test_the_preset_matches_at_the_repo_root_only() -> None:
    """onnx/tokenizer.json is an export's copy; additional_chat_templates/*.jinja names
    its folder and is taken, one level deep only."""
    assert in_preset("tokenizer.json") and not in_preset("onnx/tokenizer.json")
    assert in_preset("additional_chat_templates/tool_use.jinja")
    assert not in_preset("additional_chat_templates/deeper/x.jinja")
    assert not in_preset("x/additional_chat_templates/a.jinja")
    assert in_preset("cl100k_base.tiktoken") and not in_preset("sub/cl100k_base.tiktoken")
    assert in_preset("spiece.model") and in_preset("sentencepiece.bpe.model")
    assert not in_preset("model.safetensors") and not in_preset("Tokenizer.json")


def test_the_selection_order_is_stable_explicit_files_first() -> None:
    """Explicit files in the caller's order, then the discovered ones sorted."""
    chosen = select(listing("vocab.txt", "b.txt", "a.txt", "config.json"),
                    Selection(files=("b.txt", "a.txt"), preset=None), cache_key="k")
    assert chosen.files == ("b.txt", "a.txt")
    chosen = select(listing("vocab.txt", "config.json", "tokenizer.json"), PRESET,
                    cache_key="k")
    assert chosen.files == ("config.json", "tokenizer.json", "vocab.txt")
    assert set(chosen.entries) == set(chosen.files)
    assert chosen.entries["vocab.txt"].size == 10


# -- include / exclude / files / optional_files ------------------------------------------------

def test_include_adds_to_the_preset_and_exclude_wins_over_both() -> None:
    """include adds (a folder/ means everything under it); exclude removes from the preset
    and from include alike, as huggingface_hub's ignore_patterns does."""
    names = (*LLAMA, "tokenization_llama.py", *WEIGHTS)
    with_include = picked(names, Selection(include=("*.py", "onnx/")))
    assert {"tokenization_llama.py", "onnx/tokenizer.json", "onnx/config.json",
            "onnx/model.onnx"} <= with_include
    both = picked(names, Selection(include=("onnx/",), exclude=("onnx/*.onnx", "config.json")))
    assert "onnx/model.onnx" not in both and "config.json" not in both
    assert "onnx/tokenizer.json" in both and "tokenizer.model" in both


def test_explicit_files_are_required_and_never_excluded() -> None:
    """A named file is fetched even when an exclude pattern matches it; a named file the
    repo lacks is TokenizerNotFound naming it."""
    chosen = picked(BERT, Selection(files=("config.json",), exclude=("*.json",)))
    assert chosen == {"config.json", "vocab.txt"}
    with pytest.raises(TokenizerNotFound) as caught:
        select(listing(*BERT), Selection(files=("tokenizer.model",)), cache_key="k")
    assert "tokenizer.model" in str(caught.value)


def test_optional_files_are_taken_when_present_and_reported_when_absent() -> None:
    """optional_files never fail: present ones are fetched, absent ones listed."""
    chosen = select(listing(*GPT2, "extra.txt"),
                    Selection(files=("vocab.json",), optional_files=("extra.txt", "nope.txt"),
                              preset=None), cache_key="k")
    assert chosen.files == ("vocab.json", "extra.txt")
    assert chosen.optional_absent == ("nope.txt",)


def test_fnmatch_rules_are_huggingface_hubs() -> None:
    """Case-sensitive; '*' crosses folders; 'dir/' is everything under dir."""
    assert matches_any("a/b/c.json", ["*.json"])
    assert matches_any("onnx/deep/x", ["onnx/"])
    assert not matches_any("Config.JSON", ["*.json"])
    assert not matches_any("onnxx/x", ["onnx/"])


def test_check_patterns_bounds_and_types() -> None:
    """A string is one pattern; duplicates collapse; empty, NUL, too long, too many, or a
    non-string pattern is InvalidRequest."""
    assert check_patterns("include", "*.py") == ("*.py",)
    assert check_patterns("include", None) == ()
    assert check_patterns("include", ["a", "b", "a"]) == ("a", "b")
    for bad in ([""], ["a\x00b"], ["x" * 513], [3], [f"p{i}" for i in range(65)], 5):
        with pytest.raises(InvalidRequest) as caught:
            check_patterns("exclude", bad)
        assert caught.value.field == "exclude"


# -- no tokenizer --------------------------------------------------------------------------

def test_a_repo_without_tokenizer_files_names_the_first_20_it_has() -> None:
    """No tokenizer-defining file (a config alone is not one): TokenizerNotFound listing
    the first SHOWN_NAMES names and how many more."""
    names = ("config.json", "chat_template.jinja", *(f"w{i:03}.bin" for i in range(30)))
    with pytest.raises(TokenizerNotFound) as caught:
        select(listing(*names), PRESET, cache_key="k")
    text = " ".join(caught.value.suggestions)
    shown = sorted(names)[:SHOWN_NAMES]
    assert all(name in text for name in shown)
    assert sorted(names)[SHOWN_NAMES] not in text
    assert f"and {len(names) - SHOWN_NAMES} more" in text
    with pytest.raises(TokenizerNotFound, match="no file"):
        select(listing("a.bin"), Selection(include=("*.py",), preset=None), cache_key="k")


def test_include_alone_can_make_a_set_without_preset_files() -> None:
    """A repo of custom files is served when include picks some."""
    assert picked(("custom.vocab", "config.json"), Selection(include=("*.vocab",))) == {
        "custom.vocab", "config.json"}


def test_select_present_chooses_among_the_files_a_directory_holds() -> None:
    """The same rule over a directory's names (an HF cache, an operator's directory)."""
    chosen = select_present(("vocab.txt", "model.safetensors"), PRESET, cache_key="k",
                            repo="org/name", revision="main")
    assert chosen.files == ("vocab.txt",)


# -- hostile listings ------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "../etc/passwd", "a/../../b", "/etc/passwd", "a\x00b", "a\\b", "sub/..",
    ".tokacq/manifest.json", "x.tokacq-partial", "bad\x1b[31m", "a//b", "./a",
], ids=repr)
def test_unsafe_paths_are_refused_whole(path: str) -> None:
    """'..', absolute, NUL, backslash, reserved names, controls, empty segments: the whole
    listing is ListingRefused (with the request's file rule as check_file)."""
    with pytest.raises(ListingRefused) as caught:
        checked_listing(listing("vocab.txt", path), check_file=check_file)
    assert isinstance(caught.value.repo, str) and caught.value.check == "listing"
    assert "\x00" not in str(caught.value)


def test_the_structural_checks_hold_without_the_request_rule() -> None:
    """Even without check_file, '..', absolute, NUL and backslash are refused."""
    for path in ("../x", "/x", "a\x00", "a\\b"):
        with pytest.raises(ListingRefused):
            checked_listing(listing(path))
    with pytest.raises(ListingRefused, match="without a path"):
        checked_listing(listing(""))


@pytest.mark.parametrize("size", [-1, MAX_ENTRY_BYTES + 1])
def test_absurd_sizes_are_refused(size: int) -> None:
    entries = (RepoEntry("vocab.txt", size=size),)
    with pytest.raises(ListingRefused, match="absurd size"):
        checked_listing(RepoListing("org/name", "main", None, entries))
    ok = (RepoEntry("vocab.txt", size=MAX_ENTRY_BYTES), RepoEntry("x", size=0),
          RepoEntry("y", size=None))
    assert checked_listing(RepoListing("org/name", "main", None, ok)).entries == ok


def test_duplicate_names_and_case_only_differences_are_refused() -> None:
    with pytest.raises(ListingRefused, match="duplicate"):
        checked_listing(listing("vocab.txt", "vocab.txt"))
    with pytest.raises(ListingRefused, match="case"):
        checked_listing(listing("vocab.txt", "Vocab.txt"))


def test_more_entries_than_the_bound_are_refused() -> None:
    """MAX_ENTRIES is a bound on the whole listing; exactly the bound is accepted."""
    at_bound = listing(*(f"f{i}" for i in range(MAX_ENTRIES)))
    assert checked_listing(at_bound) is at_bound
    with pytest.raises(ListingRefused, match=f"more than {MAX_ENTRIES}"):
        checked_listing(listing(*(f"f{i}" for i in range(MAX_ENTRIES + 1))))


def test_a_refused_entry_is_shown_bounded_and_escaped() -> None:
    """The refused path is named, cut at 200 characters, NUL shown as an escape."""
    with pytest.raises(ListingRefused) as caught:
        checked_listing(listing("../" + "a" * 500 + "\x00"))
    assert caught.value.entry is not None and len(caught.value.entry) <= 200
    assert "\x00" not in caught.value.entry


# -- Selection, as recorded ------------------------------------------------------------------

def test_selection_round_trips_and_parses_strictly() -> None:
    selection = Selection(files=("a",), include=("*.py",), exclude=("x/",),
                          optional_files=("o",), preset=None)
    assert Selection.from_dict(selection.to_dict()) == selection
    assert Selection.from_dict(Selection().to_dict()) == Selection()
    for bad in ([], "x", {"files": "a"}, {"include": [1]}, {"exclude": None},
                {"optional_files": [None]}, {"preset": "weights"}, {"preset": 1},
                {"files": ["a"] * (MAX_ENTRIES + 1)}):
        with pytest.raises(ValueError):
            Selection.from_dict(bad)
