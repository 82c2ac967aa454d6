"""``HfCacheSource``: reading a huggingface_hub cache laid out by hand, read-only."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from support.hf_cache_layout import add_snapshot, git_blob_sha1, sha256, storage, tree_state
from tokenizer_acquisition import TokenizerDownloadInfo, TokenizerNotFound
from tokenizer_acquisition.adapters.hf_cache_source import HfCacheSource
from tokenizer_acquisition.domain.cache_policy import decide
from tokenizer_acquisition.domain.local import LocalAcquisition

REPO = "org/name"
A = "a" * 40
B = "b" * 40
TOKENIZER = b'{"model": {"vocab": {"a": 0, "b": 1}}}'
CONFIG = b'{"model_max_length": 512}'
FILES = ("tokenizer.json", "tokenizer_config.json")


def info(revision: str = "main", files: tuple[str, ...] = FILES, repo: str = REPO,
         **kwargs: object) -> TokenizerDownloadInfo:
    return TokenizerDownloadInfo(repo, "key", files, revision=revision, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "hub"


def test_pinned_commit_reads_that_snapshot_only(root: Path) -> None:
    """A 40-hex revision selects snapshots/<commit> without consulting refs."""
    add_snapshot(root, REPO, A, {"tokenizer.json": TOKENIZER, "tokenizer_config.json": CONFIG},
                 refs=["main"])
    add_snapshot(root, REPO, B, {"tokenizer.json": b"{}", "tokenizer_config.json": b"{}"})
    located = HfCacheSource(root).locate(info(B))
    assert located.commit == B
    assert located.directory == storage(root, REPO) / "snapshots" / B
    assert located.found["tokenizer.json"].path.read_bytes() == b"{}"
    assert decide(info(B), located).hit


def test_refs_main_is_followed_to_its_commit(root: Path) -> None:
    """revision 'main' resolves through refs/main, and files come from that snapshot."""
    add_snapshot(root, REPO, A, {"tokenizer.json": TOKENIZER, "tokenizer_config.json": CONFIG},
                 refs=["main"])
    add_snapshot(root, REPO, B, {"tokenizer.json": b"{}", "tokenizer_config.json": b"{}"})
    located = HfCacheSource(root).locate(info("main"))
    assert located.commit == A
    assert located.found["tokenizer.json"].path.read_bytes() == TOKENIZER
    assert located.found["tokenizer.json"].size == len(TOKENIZER)
    assert decide(info("main"), located).hit


@pytest.mark.parametrize("revision", ["refs/pr/1", "release/v1.0"])
def test_refs_containing_a_slash_are_nested_files(root: Path, revision: str) -> None:
    """A revision with '/' is read from refs/<a>/<b>, as huggingface_hub writes it."""
    add_snapshot(root, REPO, A, {"tokenizer.json": TOKENIZER, "tokenizer_config.json": CONFIG},
                 refs=[revision])
    add_snapshot(root, REPO, B, {"tokenizer.json": b"{}", "tokenizer_config.json": b"{}"},
                 refs=["main"])
    located = HfCacheSource(root).locate(info(revision))
    assert located.commit == A
    assert decide(info(revision), located).hit


def test_a_file_only_in_another_snapshot_is_not_returned(root: Path) -> None:
    """main's snapshot lacks the config; the copy in an older snapshot is never offered."""
    add_snapshot(root, REPO, B, {"tokenizer.json": b"{}", "tokenizer_config.json": CONFIG})
    add_snapshot(root, REPO, A, {"tokenizer.json": TOKENIZER}, refs=["main"])
    located = HfCacheSource(root).locate(info("main"))
    assert set(located.found) == {"tokenizer.json"}
    assert decide(info("main"), located).missing == ("tokenizer_config.json",)


async def test_a_partial_set_is_a_miss(root: Path) -> None:
    """The strategy raises TokenizerNotFound naming the missing file, never half a tokenizer."""
    add_snapshot(root, REPO, A, {"tokenizer.json": TOKENIZER}, refs=["main"])
    strategy = LocalAcquisition(HfCacheSource(root), name="hf-cache")
    with pytest.raises(TokenizerNotFound) as caught:
        await strategy.acquire(info("main"))
    assert caught.value.missing_files == ("tokenizer_config.json",)


def test_an_unknown_revision_finds_nothing_even_with_one_snapshot(root: Path) -> None:
    """Without refs/<revision> the cache cannot say which snapshot it is: nothing is found."""
    add_snapshot(root, REPO, A, {"tokenizer.json": TOKENIZER, "tokenizer_config.json": CONFIG},
                 refs=["main"])
    located = HfCacheSource(root).locate(info("v2"))
    assert located.found == {} and located.commit is None


@pytest.mark.parametrize("content", [f"../snapshots/{B}", f"{B}/.", B.upper(), "not-a-sha", ""])
def test_a_malformed_ref_is_ignored(root: Path, content: str) -> None:
    """Only a 40-hex sha in a ref file may name a snapshot directory, never a path to one."""
    add_snapshot(root, REPO, B, {"tokenizer.json": TOKENIZER, "tokenizer_config.json": CONFIG})
    (storage(root, REPO) / "snapshots" / B.upper()).symlink_to(B)
    (storage(root, REPO) / "refs").mkdir()
    (storage(root, REPO) / "refs" / "main").write_text(content)
    assert HfCacheSource(root).locate(info("main")).found == {}


def test_a_ref_with_a_trailing_newline_is_accepted(root: Path) -> None:
    """A ref written by hand (echo sha > refs/main) still resolves."""
    add_snapshot(root, REPO, B, {"tokenizer.json": TOKENIZER, "tokenizer_config.json": CONFIG})
    (storage(root, REPO) / "refs").mkdir()
    (storage(root, REPO) / "refs" / "main").write_text(B + "\n")
    assert HfCacheSource(root).locate(info("main")).commit == B


def test_an_absolute_revision_cannot_leave_refs(root: Path, tmp_path: Path) -> None:
    """revision '/x/main' is not joined as an absolute path outside refs/."""
    add_snapshot(root, REPO, A, {"tokenizer.json": TOKENIZER, "tokenizer_config.json": CONFIG})
    outside = tmp_path / "x"
    outside.mkdir()
    (outside / "main").write_text(A)
    assert HfCacheSource(root).locate(info(f"{outside}/main")).found == {}


def test_a_link_escaping_the_cache_root_is_rejected(root: Path, tmp_path: Path) -> None:
    """A snapshot entry linking outside the cache root counts as absent."""
    snapshot = add_snapshot(root, REPO, A, {"tokenizer_config.json": CONFIG}, refs=["main"])
    secret = tmp_path / "outside.json"
    secret.write_bytes(TOKENIZER)
    (snapshot / "tokenizer.json").symlink_to(secret)
    located = HfCacheSource(root).locate(info("main"))
    assert "tokenizer.json" not in located.found


def test_a_link_into_another_snapshot_or_repo_is_rejected(root: Path) -> None:
    """Inside the root is not enough: only this repo's blobs or this snapshot count."""
    add_snapshot(root, "other/repo", A, {"tokenizer.json": TOKENIZER})
    old = add_snapshot(root, REPO, B, {})
    (old / "tokenizer_config.json").write_bytes(CONFIG)
    snapshot = add_snapshot(root, REPO, A, {}, refs=["main"])
    (snapshot / "tokenizer.json").symlink_to(
        storage(root, "other/repo") / "snapshots" / A / "tokenizer.json")
    (snapshot / "tokenizer_config.json").symlink_to(old / "tokenizer_config.json")
    assert HfCacheSource(root).locate(info("main")).found == {}


def test_a_snapshot_directory_linked_to_another_commit_is_not_this_commit(root: Path) -> None:
    """snapshots/<A> pointing at snapshots/<B> does not make B's plain files A's."""
    old = add_snapshot(root, REPO, B, {})
    (old / "tokenizer.json").write_bytes(TOKENIZER)
    (old / "tokenizer_config.json").write_bytes(CONFIG)
    (storage(root, REPO) / "snapshots" / A).symlink_to(old)
    assert HfCacheSource(root).locate(info(A)).found == {}


def test_dangling_links_count_as_absent(root: Path) -> None:
    """A link whose blob was deleted (a pruned cache) is a miss, not an error."""
    snapshot = add_snapshot(root, REPO, A, {"tokenizer.json": TOKENIZER}, refs=["main"])
    for blob in (storage(root, REPO) / "blobs").iterdir():
        blob.unlink()
    assert HfCacheSource(root).locate(info("main")).found == {}
    assert (snapshot / "tokenizer.json").is_symlink()


def test_manifest_entries_come_from_blob_names(root: Path) -> None:
    """An LFS blob's name is its sha256; every entry records size, commit, revision, repo."""
    add_snapshot(root, REPO, A, {"tokenizer.json": TOKENIZER, "tokenizer_config.json": CONFIG},
                 lfs=["tokenizer.json"], refs=["main"])
    manifest = HfCacheSource(root).locate(info("main")).manifest
    entry = manifest["tokenizer.json"]
    assert entry.sha256 == sha256(TOKENIZER) and entry.size == len(TOKENIZER)
    assert (entry.commit, entry.revision, entry.repo) == (A, "main", REPO)
    assert manifest["tokenizer_config.json"].sha256 is None  # a git sha1, not a digest


def test_a_sha256_pin_is_checked_against_the_blob_name(root: Path) -> None:
    """The pin is compared with the blob name: trusted without re-reading the content."""
    add_snapshot(root, REPO, A, {"tokenizer.json": TOKENIZER}, lfs=["tokenizer.json"],
                 refs=["main"])
    blob = storage(root, REPO) / "blobs" / sha256(TOKENIZER)
    blob.write_bytes(b"X" * len(TOKENIZER))  # same size, different bytes: blob name still wins
    source = HfCacheSource(root)
    good = info("main", ("tokenizer.json",), sha256={"tokenizer.json": sha256(TOKENIZER)})
    bad = info("main", ("tokenizer.json",), sha256={"tokenizer.json": "0" * 64})
    assert decide(good, source.locate(good)).hit
    assert decide(bad, source.locate(bad)).stale == ("tokenizer.json",)


def test_a_sha256_pin_on_a_git_blob_is_checked_by_hashing(root: Path) -> None:
    """A non-LFS blob has no digest in its name, so a pin on it hashes the content."""
    add_snapshot(root, REPO, A, {"tokenizer.json": TOKENIZER}, refs=["main"])
    assert (storage(root, REPO) / "blobs" / git_blob_sha1(TOKENIZER)).is_file()
    source = HfCacheSource(root)
    good = info("main", ("tokenizer.json",), sha256={"tokenizer.json": sha256(TOKENIZER)})
    bad = info("main", ("tokenizer.json",), sha256={"tokenizer.json": sha256(b"other")})
    assert decide(good, source.locate(good)).hit
    assert decide(bad, source.locate(bad)).stale == ("tokenizer.json",)


def test_plain_files_in_a_snapshot_are_served(root: Path) -> None:
    """Where symlinks are unavailable huggingface_hub copies files into the snapshot."""
    snapshot = add_snapshot(root, REPO, A, {}, refs=["main"])
    (snapshot / "tokenizer.json").write_bytes(TOKENIZER)
    (snapshot / "sub").mkdir()
    (snapshot / "sub" / "tokenizer_config.json").write_bytes(CONFIG)
    request = info("main", ("tokenizer.json", "sub/tokenizer_config.json"))
    assert decide(request, HfCacheSource(root).locate(request)).hit


def test_repos_without_an_org_use_models_name(root: Path) -> None:
    """'gpt2' lives in models--gpt2."""
    add_snapshot(root, "gpt2", A, {"tokenizer.json": TOKENIZER}, refs=["main"])
    assert (root / "models--gpt2").is_dir()
    request = info("main", ("tokenizer.json",), repo="gpt2")
    assert decide(request, HfCacheSource(root).locate(request)).hit


async def test_reading_writes_nothing(root: Path) -> None:
    """Locating and acquiring leave the cache tree byte-for-byte and mtime-for-mtime alone."""
    add_snapshot(root, REPO, A, {"tokenizer.json": TOKENIZER, "tokenizer_config.json": CONFIG},
                 refs=["main"])
    before = tree_state(root)
    strategy = LocalAcquisition(HfCacheSource(root), name="hf-cache")
    result = await strategy.acquire(info("main", expected_vocab=2))
    with pytest.raises(TokenizerNotFound):
        await strategy.acquire(info("v9"))
    assert result.commit == A and result.strategy == "hf-cache" and result.from_cache
    assert tree_state(root) == before


def test_exists_and_description_name_the_root(root: Path) -> None:
    """exists() is whether the root is a directory; the description says where it looks."""
    source = HfCacheSource(root)
    assert not source.exists()
    root.mkdir()
    assert source.exists() and str(root) in source.description


def test_a_pinned_file_is_hashed_once_while_unchanged(tmp_path: Path) -> None:
    """A lock-file pin does not re-hash an unchanged file on every request."""
    from tokenizer_acquisition.adapters.read_only_disk import DigestMemo

    target = tmp_path / "blob"
    target.write_bytes(b"abc")
    memo = DigestMemo()
    first = memo.sha256(target)
    assert first == hashlib.sha256(b"abc").hexdigest()
    # Same inode, size and mtime: the memo answers without reading (the old digest shows it).
    st = target.stat()
    with target.open("r+b") as handle:
        handle.write(b"xyz")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert memo.sha256(target) == first
    target.write_bytes(b"abcd")  # a real change (size, mtime): hashed again
    assert memo.sha256(target) == hashlib.sha256(b"abcd").hexdigest()
