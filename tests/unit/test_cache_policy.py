"""decide(): a hit needs every requested file present and complete."""

from __future__ import annotations

from pathlib import Path

from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.cache_policy import FileFacts, Located, decide
from tokenizer_acquisition.domain.manifest import ManifestEntry

INFO = TokenizerDownloadInfo("org/name", "key", ("tokenizer.json", "vocab.txt"))
DIR = Path("/cache/key")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def facts(*names: str, size: int = 10) -> dict[str, FileFacts]:
    return {n: FileFacts(DIR / n, size) for n in names}


def test_all_present_without_manifest_is_a_hit() -> None:
    """Files placed by hand (no manifest) are trusted when all are present."""
    decision = decide(INFO, Located(DIR, facts("tokenizer.json", "vocab.txt")))
    assert decision.hit and decision.usable == INFO.files


def test_some_present_is_a_miss_listing_the_missing() -> None:
    """A directory with only some files is a miss, never 'any file will do'."""
    decision = decide(INFO, Located(DIR, facts("tokenizer.json")))
    assert not decision.hit and decision.missing == ("vocab.txt",)


def test_size_differing_from_manifest_is_stale() -> None:
    """A file whose size no longer matches its manifest entry is not complete."""
    manifest = {"tokenizer.json": ManifestEntry(size=11), "vocab.txt": ManifestEntry(size=10)}
    decision = decide(INFO, Located(DIR, facts("tokenizer.json", "vocab.txt"), manifest))
    assert not decision.hit and decision.stale == ("tokenizer.json",)


def test_entry_from_another_repo_is_stale() -> None:
    """Files recorded for another repo under the same key are not this tokenizer."""
    manifest = {n: ManifestEntry(size=10, repo="other/repo") for n in INFO.files}
    decision = decide(INFO, Located(DIR, facts(*INFO.files), manifest))
    assert decision.stale == INFO.files


def test_pinned_commit_must_match_the_recorded_commit() -> None:
    """A request for a commit is not served by files of another commit."""
    info = TokenizerDownloadInfo("org/name", "key", ("tokenizer.json",), revision=COMMIT)
    other = {"tokenizer.json": ManifestEntry(size=10, commit="f" * 40, revision="main")}
    same = {"tokenizer.json": ManifestEntry(size=10, commit=COMMIT, revision="main")}
    assert not decide(info, Located(DIR, facts("tokenizer.json"), other)).hit
    assert decide(info, Located(DIR, facts("tokenizer.json"), same)).hit


def test_sha256_pin_needs_a_matching_recorded_digest() -> None:
    """A pin is satisfied only by a manifest entry with that digest."""
    info = TokenizerDownloadInfo("org/name", "key", ("tokenizer.json",),
                                 sha256={"tokenizer.json": "a" * 64})
    assert not decide(info, Located(DIR, facts("tokenizer.json"))).hit
    good = {"tokenizer.json": ManifestEntry(size=10, sha256="a" * 64)}
    bad = {"tokenizer.json": ManifestEntry(size=10, sha256="b" * 64)}
    assert decide(info, Located(DIR, facts("tokenizer.json"), good)).hit
    assert not decide(info, Located(DIR, facts("tokenizer.json"), bad)).hit
