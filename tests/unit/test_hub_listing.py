"""The Hub's listing answers parsed as untrusted input: URLs, siblings, tree pages, Link."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tokenizer_acquisition.domain.discovery import MAX_ENTRIES, RepoEntry
from tokenizer_acquisition.domain.hub_listing import (
    next_page,
    parse_model_info,
    parse_tree_page,
    revision_url,
    tree_url,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
BLOB = "89abcdef0123456789abcdef0123456789abcdef"
SHA = "ab" * 32


def test_urls_are_huggingface_hubs_with_the_revision_quoted() -> None:
    """model_info(files_metadata=True) and list_repo_tree(recursive=True), a '/' in a
    branch name quoted, a trailing '/' of the endpoint dropped."""
    assert revision_url("http://h/", "org/name", "refs/pr/1") == \
        "http://h/api/models/org/name/revision/refs%2Fpr%2F1?blobs=true"
    assert tree_url("http://h", "name", "main") == \
        "http://h/api/models/name/tree/main?recursive=true"


def test_siblings_give_sizes_and_the_right_digest_per_kind() -> None:
    """A regular file keeps its git blob id; an LFS file its sha256 and LFS size (its
    blobId is the pointer's, so it is dropped); the commit is the answer's sha."""
    doc = {"sha": COMMIT.upper(), "siblings": [
        {"rfilename": "vocab.txt", "size": 12, "blobId": BLOB},
        {"rfilename": "model.safetensors", "size": 130, "blobId": BLOB,
         "lfs": {"sha256": SHA, "size": 4096, "pointerSize": 130}},
    ]}
    parsed, complete = parse_model_info(doc, repo="org/name", revision="main")
    assert complete and parsed.commit == COMMIT
    assert parsed.entries == (RepoEntry("vocab.txt", 12, git_sha1=BLOB),
                              RepoEntry("model.safetensors", 4096, sha256=SHA))
    assert parsed.repo == "org/name" and parsed.revision == "main"


def test_an_answer_without_sizes_or_siblings_is_incomplete() -> None:
    """No 'size' (a mirror ignoring ?blobs) or no siblings at all: the tree is needed."""
    parsed, complete = parse_model_info({"sha": COMMIT, "siblings": [{"rfilename": "a"}]},
                                        repo="r", revision="main")
    assert not complete and parsed.entries == (RepoEntry("a"),)
    parsed, complete = parse_model_info({"sha": COMMIT}, repo="r", revision="main")
    assert not complete and parsed.entries == ()


def test_malformed_digests_are_ignored_not_trusted() -> None:
    """A digest that is not hex of the right length is dropped (the file is then
    verified by what it is served with), and a bad sha gives no commit."""
    doc = {"sha": "not-a-commit", "siblings": [
        {"rfilename": "a", "size": 1, "blobId": "xyz"},
        {"rfilename": "b", "size": 1, "lfs": {"sha256": "00", "size": 1}},
    ]}
    parsed, _ = parse_model_info(doc, repo="r", revision="main")
    assert parsed.commit is None
    assert [(e.git_sha1, e.sha256) for e in parsed.entries] == [(None, None), (None, None)]


@pytest.mark.parametrize("doc", [
    [], "x", None, {"siblings": {}}, {"siblings": ["a"]}, {"siblings": [{"rfilename": 3}]},
    {"siblings": [{"rfilename": "a", "size": "12"}]},
    {"siblings": [{"rfilename": "a", "size": True}]},
    {"siblings": [{"rfilename": "a", "size": 1.5}]},
    {"siblings": [{"rfilename": "a", "lfs": "yes"}]},
    {"siblings": [{"rfilename": "a", "lfs": {"size": "big"}}]},
    {"siblings": [{"rfilename": str(i)} for i in range(MAX_ENTRIES + 1)]},
], ids=lambda d: json.dumps(d)[:40])
def test_a_model_info_answer_of_the_wrong_shape_is_a_value_error(doc: Any) -> None:
    """Wrong types anywhere are ValueError (the adapter raises ListingRefused for it)."""
    with pytest.raises(ValueError):
        parse_model_info(doc, repo="r", revision="main")


def test_a_tree_page_keeps_files_and_skips_folders() -> None:
    """Folders are skipped; an LFS entry's oid is its sha256; a file's oid its blob id."""
    page = [
        {"type": "directory", "path": "onnx", "oid": BLOB, "size": 0},
        {"type": "file", "path": "onnx/model.onnx", "size": 130, "oid": BLOB,
         "lfs": {"oid": SHA, "size": 4096, "pointerSize": 130}},
        {"type": "file", "path": "vocab.txt", "size": 12, "oid": BLOB},
    ]
    assert parse_tree_page(page) == [RepoEntry("onnx/model.onnx", 4096, sha256=SHA),
                                     RepoEntry("vocab.txt", 12, git_sha1=BLOB)]
    assert parse_tree_page([]) == []


@pytest.mark.parametrize("doc", [
    {}, "x", None, [1], [{"type": "file", "path": None}],
    [{"type": "file", "path": "a", "size": "1"}],
    [{"type": "file", "path": "a"}] * (MAX_ENTRIES + 1),
], ids=lambda d: json.dumps(d)[:40])
def test_a_tree_page_of_the_wrong_shape_is_a_value_error(doc: Any) -> None:
    with pytest.raises(ValueError):
        parse_tree_page(doc)


@pytest.mark.parametrize(("link", "expected"), [
    ('<https://h/api/models/r/tree/main?cursor=abc>; rel="next"',
     "https://h/api/models/r/tree/main?cursor=abc"),
    ('<https://h/p1>; rel="prev", <https://h/p3>; rel="next"', "https://h/p3"),
    ("<https://h/p2>; rel=next", "https://h/p2"),
    ('<https://h/p2>; title="x"; rel="NEXT"', "https://h/p2"),
    ('<https://h/p1>; rel="prev"', None),
    ("", None),
    (None, None),
    ("garbage without brackets", None),
])
def test_the_next_page_comes_from_the_link_header(link: str | None,
                                                  expected: str | None) -> None:
    """RFC 8288 Link header, as the Hub sends it: only rel="next" is followed."""
    assert next_page(link) == expected
