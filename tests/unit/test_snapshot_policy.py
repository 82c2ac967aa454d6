"""Managed snapshots: a hit needs the set's repo and revision, a record of every file, and
bytes that hash to the record; the manifest parser turns any input into one typed error."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.cache_policy import FileFacts, Located, decide
from tokenizer_acquisition.domain.manifest import ManifestEntry, ManifestError, Snapshot

C1 = "1" * 40
C2 = "2" * 40
SHA_A = "a" * 64
SHA_B = "b" * 64
DIR = Path("/cache/.tokacq/snapshots/key/x")
INFO = TokenizerDownloadInfo("org/name", "key", ("tokenizer.json", "vocab.txt"))


def managed(*, repo: str = "org/name", revision: str = "main", commit: str | None = C1,
            digests: dict[str, str | None] | None = None,
            recorded: tuple[str, ...] = ("tokenizer.json", "vocab.txt"),
            problem: str | None = None) -> Located:
    digests = digests if digests is not None else {"tokenizer.json": SHA_A, "vocab.txt": SHA_B}
    manifest = {n: ManifestEntry(size=10, sha256={"tokenizer.json": SHA_A,
                                                  "vocab.txt": SHA_B}[n]) for n in recorded}
    found = {n: FileFacts(DIR / n, 10, sha256=d) for n, d in digests.items()}
    return Located(DIR, found, manifest, commit=commit, managed=True, repo=repo,
                   revision=revision, problem=problem)


def test_a_verified_set_of_the_same_revision_is_a_hit() -> None:
    """Every file recorded, its bytes hashing to the record, same repo and revision."""
    assert decide(INFO, managed()).hit


def test_bytes_not_matching_their_record_are_never_served() -> None:
    """A same-size byte flip changes the measured digest: the file is stale."""
    decision = decide(INFO, managed(digests={"tokenizer.json": SHA_A, "vocab.txt": "c" * 64}))
    assert not decision.hit and decision.stale == ("vocab.txt",)


def test_an_unrecorded_file_in_a_managed_set_is_never_a_hit() -> None:
    """Present but absent from the manifest: nothing says what it should be."""
    decision = decide(INFO, managed(recorded=("tokenizer.json",)))
    assert not decision.hit and decision.stale == ("vocab.txt",)


def test_an_unreadable_manifest_makes_the_whole_set_stale() -> None:
    """Never "placed by hand": a managed key whose manifest cannot be read is not a hit."""
    decision = decide(INFO, managed(problem="truncated"))
    assert not decision.hit and decision.stale == INFO.files


def test_a_pinned_commit_needs_the_snapshot_of_that_commit() -> None:
    """A lock file's commit never matches a set of another commit."""
    pinned = TokenizerDownloadInfo("org/name", "key", INFO.files, revision=C2)
    assert not decide(pinned, managed(commit=C1)).hit
    assert decide(pinned, managed(commit=C2, revision=C2)).hit


def test_a_sha256_pin_is_checked_against_the_record_of_verified_bytes() -> None:
    """A pin differing from the verified digest is stale, even at the right commit."""
    info = TokenizerDownloadInfo("org/name", "key", INFO.files, sha256={"vocab.txt": SHA_A})
    assert decide(info, managed()).stale == ("vocab.txt",)


def test_another_repo_under_the_key_is_a_conflict() -> None:
    """One key, one repo: the decision names the repo that holds the key."""
    decision = decide(INFO, managed(repo="other/repo"))
    assert decision.conflict == "other/repo" and not decision.hit


def test_a_snapshot_round_trips_through_its_json() -> None:
    """What the cache writes, it reads back the same."""
    snap = Snapshot("key", "org/name", "main", C1,
                    {"tokenizer.json": ManifestEntry(size=3, sha256=SHA_A,
                                                     stamp=(1, 2, 3, 4, 5))}, 1.5)
    assert Snapshot.from_json(snap.to_json()) == snap


@pytest.mark.parametrize("data", [
    b"", b"{", b"[" * 200_000 + b"]" * 200_000, b"null", b'{"format": "tokacq-snapshot"}',
    b"\xff\xfe", b'{"format":"tokacq-snapshot","version":2,"cache_key":"k","repo":"r",'
    b'"revision":"main","commit":7,"files":{}}',
])
def test_hostile_manifests_are_one_typed_error(data: bytes) -> None:
    """Deep nesting, truncation, wrong types: ManifestError, never another exception."""
    with pytest.raises(ManifestError):
        Snapshot.from_json(data)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(files=st.dictionaries(st.text(max_size=12), _json, max_size=4),
       extra=st.dictionaries(st.sampled_from(["commit", "created_at", "repo", "revision"]),
                             _json, max_size=4))
def test_any_json_manifest_parses_or_is_a_manifest_error(
        files: object, extra: dict[str, object]) -> None:
    """Random field types under a valid header: a Snapshot or ManifestError, nothing else."""
    doc = {"format": "tokacq-snapshot", "version": 2, "cache_key": "k", "repo": "r",
           "revision": "main", "commit": None, "files": files, **extra}
    try:
        data = json.dumps(doc).encode()
    except ValueError:
        return
    with contextlib.suppress(ManifestError):
        Snapshot.from_json(data)
