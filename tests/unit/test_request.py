"""TokenizerDownloadInfo: a request is validated when it is built."""

from __future__ import annotations

import pytest

from tokenizer_acquisition import InvalidRequest, TokenizerDownloadInfo
from tokenizer_acquisition.domain.request import check_cache_key, check_repo, check_revision

GOOD_SHA = "a" * 64


def make(**changes: object) -> TokenizerDownloadInfo:
    fields: dict[str, object] = {"repo": "org/name", "cache_key": "name",
                                 "files": ("tokenizer.json",)}
    fields.update(changes)
    return TokenizerDownloadInfo(**fields)  # type: ignore[arg-type]


def test_valid_request_is_frozen_and_hashable() -> None:
    """A valid request keeps its fields, stores files as a tuple and can be a dict key."""
    info = make(files=["tokenizer.json", "sub/vocab.txt"], sha256={"tokenizer.json": GOOD_SHA})
    assert info.files == ("tokenizer.json", "sub/vocab.txt")
    assert info.revision == "main"
    assert {info: 1}[make(files=("tokenizer.json", "sub/vocab.txt"),
                          sha256={"tokenizer.json": GOOD_SHA})] == 1
    with pytest.raises(AttributeError):
        info.repo = "other"  # type: ignore[misc]


@pytest.mark.parametrize("repo", ["bert-base-uncased", "org/name", "a.b/c_d-e"])
def test_repo_ids_the_hub_accepts_are_accepted(repo: str) -> None:
    """Repo ids follow the Hub's own rule."""
    assert make(repo=repo).repo == repo


@pytest.mark.parametrize("repo", ["", "a/b/c", "org--x/name", "org/na..me", "org/name.git",
                                  "/name", "org/", "x" * 97, "org/na me", 3])
def test_bad_repo_ids_are_refused_naming_the_field(repo: object) -> None:
    """Invalid repo ids raise InvalidRequest with field 'repo'."""
    with pytest.raises(InvalidRequest) as err:
        make(repo=repo)
    assert err.value.field == "repo"


@pytest.mark.parametrize("key", ["", ".", "..", ".tokacq", "a/b", "a\\b", "a b", "x" * 129,
                                 "-lead"])
def test_cache_key_must_be_one_safe_segment(key: str) -> None:
    """A cache key is one path segment that cannot escape or hit bookkeeping."""
    with pytest.raises(InvalidRequest) as err:
        make(cache_key=key)
    assert err.value.field == "cache_key"


@pytest.mark.parametrize("files", [
    (), ("",), ("/etc/passwd",), ("../x",), ("a/../../x",), ("a\\b",), ("a\x00b",),
    ("tokenizer.json", "tokenizer.json"), ("Vocab.txt", "vocab.txt"), ("./x",), ("a//b",),
    (".tokacq/manifest.json",), ("x.tokacq-partial",), ("C:evil",), ("ﬁle",), ("a\u202eb",),
    "tokenizer.json",
])
def test_unsafe_or_ambiguous_files_are_refused(files: object) -> None:
    """Files are relative POSIX paths without traversal, duplicates or bookkeeping names."""
    with pytest.raises(InvalidRequest) as err:
        make(files=files)
    assert err.value.field == "files"


@pytest.mark.parametrize("vocab", [0, -1, True, 1.5, "30522"])
def test_expected_vocab_must_be_a_positive_int(vocab: object) -> None:
    """expected_vocab is None or a positive integer."""
    with pytest.raises(InvalidRequest) as err:
        make(expected_vocab=vocab)
    assert err.value.field == "expected_vocab"


@pytest.mark.parametrize("pins", [{"other.json": GOOD_SHA}, {"tokenizer.json": "abc"},
                                  ["tokenizer.json"]])
def test_sha256_pins_must_name_requested_files_with_hex_digests(pins: object) -> None:
    """Pins are a mapping of requested file to 64 hex digits."""
    with pytest.raises(InvalidRequest) as err:
        make(sha256=pins)
    assert err.value.field == "sha256"


def test_pins_are_normalised_to_lower_case() -> None:
    """Upper-case digests are accepted and stored lower-case."""
    info = make(sha256={"tokenizer.json": "AB" * 32})
    assert info.sha256 == {"tokenizer.json": "ab" * 32}


@pytest.mark.parametrize("revision", ["", "a\x00b", "../main", "x" * 300])
def test_bad_revisions_are_refused(revision: str) -> None:
    """Revisions are non-empty and cannot smuggle path tricks."""
    with pytest.raises(InvalidRequest) as err:
        make(revision=revision)
    assert err.value.field == "revision"


def test_commit_revisions_are_recognised() -> None:
    """A 40-hex revision is a pinned commit; a branch is not."""
    assert make(revision="0123456789abcdef0123456789abcdef01234567").is_pinned_commit
    assert not make(revision="main").is_pinned_commit


def test_single_field_checks_are_public() -> None:
    """repo, cache key and revision can be validated alone, without building a request."""
    assert check_repo("org/name") == "org/name"
    assert check_cache_key("org--name") == "org--name"
    assert check_revision("v1.0") == "v1.0"
    for check, bad, field in ((check_repo, "a b", "repo"), (check_cache_key, "../x", "cache_key"),
                              (check_revision, "a/../b", "revision")):
        with pytest.raises(InvalidRequest) as raised:
            check(bad)
        assert raised.value.field == field
