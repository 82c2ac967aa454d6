"""``LocalDirSource`` and ``LocalDirAcquisition``: a directory laid out as <org>/<name>/<file>."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from support.hf_cache_layout import tree_state
from tokenizer_acquisition import AcquisitionUnavailable, TokenizerDownloadInfo, TokenizerNotFound
from tokenizer_acquisition.adapters.local_dir_source import LocalDirSource
from tokenizer_acquisition.domain.cache_policy import decide
from tokenizer_acquisition.strategies import LocalDirAcquisition

TOKENIZER = b'{"model": {"vocab": {"a": 0, "b": 1, "c": 2}}}'
CONFIG = b'{"model_max_length": 512}'
FILES = ("tokenizer.json", "tokenizer_config.json")


def info(repo: str = "org/name", files: tuple[str, ...] = FILES, **kwargs: object
         ) -> TokenizerDownloadInfo:
    return TokenizerDownloadInfo(repo, "key", files, **kwargs)  # type: ignore[arg-type]


def place(root: Path, repo: str, files: dict[str, bytes]) -> Path:
    directory = root.joinpath(*repo.split("/"))
    for name, data in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return directory


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "bundle"
    path.mkdir()
    return path


def test_org_and_name_map_to_nested_directories(root: Path) -> None:
    """org/name is read from <root>/org/name/."""
    directory = place(root, "org/name", {"tokenizer.json": TOKENIZER,
                                         "tokenizer_config.json": CONFIG})
    located = LocalDirSource(root).locate(info())
    assert located.directory == directory and decide(info(), located).hit
    assert located.found["tokenizer.json"].size == len(TOKENIZER)


def test_repos_without_an_org_sit_directly_under_the_root(root: Path) -> None:
    """'gpt2' is read from <root>/gpt2/."""
    place(root, "gpt2", {"tokenizer.json": TOKENIZER})
    request = info("gpt2", ("tokenizer.json",))
    assert decide(request, LocalDirSource(root).locate(request)).hit


def test_a_partial_set_is_a_miss(root: Path) -> None:
    """One file of two present: decide() names the missing one; nothing is served."""
    place(root, "org/name", {"tokenizer.json": TOKENIZER})
    decision = decide(info(), LocalDirSource(root).locate(info()))
    assert not decision.hit and decision.missing == ("tokenizer_config.json",)


def test_nested_file_names_are_supported(root: Path) -> None:
    """A requested 'sub/file' is read from <root>/<org>/<name>/sub/file."""
    place(root, "org/name", {"sub/tokenizer.json": TOKENIZER})
    request = info(files=("sub/tokenizer.json",))
    assert decide(request, LocalDirSource(root).locate(request)).hit


def test_a_link_escaping_the_root_is_rejected(root: Path, tmp_path: Path) -> None:
    """A link to a file outside the root counts as absent."""
    directory = place(root, "org/name", {"tokenizer_config.json": CONFIG})
    outside = tmp_path / "outside.json"
    outside.write_bytes(TOKENIZER)
    (directory / "tokenizer.json").symlink_to(outside)
    assert "tokenizer.json" not in LocalDirSource(root).locate(info()).found


def test_a_repo_directory_linked_outside_the_root_is_rejected(root: Path, tmp_path: Path
                                                              ) -> None:
    """Linking <root>/org elsewhere does not widen what the root may serve."""
    elsewhere = place(tmp_path / "elsewhere", "name", {"tokenizer.json": TOKENIZER,
                                                       "tokenizer_config.json": CONFIG})
    (root / "org").symlink_to(elsewhere.parent)
    assert LocalDirSource(root).locate(info()).found == {}


def test_a_link_inside_the_root_is_followed(root: Path) -> None:
    """Sharing one file between repos with a link inside the bundle is fine."""
    shared = place(root, "shared", {"tokenizer.json": TOKENIZER}) / "tokenizer.json"
    directory = place(root, "org/name", {"tokenizer_config.json": CONFIG})
    (directory / "tokenizer.json").symlink_to(shared)
    assert decide(info(), LocalDirSource(root).locate(info())).hit


def test_a_root_that_is_itself_a_link_still_serves(root: Path, tmp_path: Path) -> None:
    """A bundle mounted through a symlinked path is not 'escaping' its own root."""
    place(root, "org/name", {"tokenizer.json": TOKENIZER, "tokenizer_config.json": CONFIG})
    alias = tmp_path / "alias"
    alias.symlink_to(root)
    assert decide(info(), LocalDirSource(alias).locate(info())).hit


def test_a_sha256_pin_is_verified_by_hashing(root: Path) -> None:
    """The right digest is a hit; a wrong one makes the file stale (a miss)."""
    place(root, "org/name", {"tokenizer.json": TOKENIZER})
    source = LocalDirSource(root)
    good = info(files=("tokenizer.json",),
                sha256={"tokenizer.json": hashlib.sha256(TOKENIZER).hexdigest()})
    bad = info(files=("tokenizer.json",), sha256={"tokenizer.json": "f" * 64})
    assert decide(good, source.locate(good)).hit
    assert decide(bad, source.locate(bad)).stale == ("tokenizer.json",)


def test_the_directory_serves_any_revision(root: Path) -> None:
    """A bundle records no revision: what it holds is served for a branch or a pinned commit."""
    place(root, "org/name", {"tokenizer.json": TOKENIZER, "tokenizer_config.json": CONFIG})
    for revision in ("main", "c" * 40):
        request = info(revision=revision)
        located = LocalDirSource(root).locate(request)
        assert decide(request, located).hit and located.commit is None


async def test_the_strategy_reads_without_writing(root: Path) -> None:
    """LocalDirAcquisition serves a complete set, checks the vocabulary, and writes nothing."""
    place(root, "org/name", {"tokenizer.json": TOKENIZER, "tokenizer_config.json": CONFIG})
    before = tree_state(root)
    result = await LocalDirAcquisition(root).acquire(info(expected_vocab=3))
    assert result.strategy == "local-dir" and result.from_cache
    assert result.path == root / "org" / "name" / "tokenizer.json"
    assert tree_state(root) == before


async def test_the_strategy_raises_not_found_for_a_partial_set(root: Path) -> None:
    """A miss names the missing file and the directory looked in."""
    place(root, "org/name", {"tokenizer.json": TOKENIZER})
    with pytest.raises(TokenizerNotFound) as caught:
        await LocalDirAcquisition(root).acquire(info())
    assert caught.value.missing_files == ("tokenizer_config.json",)
    assert caught.value.directory == root / "org" / "name"


async def test_an_unconfigured_strategy_is_unavailable_and_says_why() -> None:
    """Without local_dir the strategy is unavailable, with the setting to fix in the reason."""
    strategy = LocalDirAcquisition(None)
    assert not strategy.is_available() and strategy.root is None
    assert "local_dir is not configured" in (strategy.unavailable_reason() or "")
    with pytest.raises(AcquisitionUnavailable) as caught:
        await strategy.acquire(info())
    assert caught.value.strategy == "local-dir"


async def test_a_missing_directory_is_unavailable_and_says_why(tmp_path: Path) -> None:
    """A configured but absent directory is reported by path, before any lookup."""
    missing = tmp_path / "not-mounted"
    strategy = LocalDirAcquisition(missing)
    assert not strategy.is_available()
    assert str(missing) in (strategy.unavailable_reason() or "")
    with pytest.raises(AcquisitionUnavailable):
        await strategy.acquire(info())
    missing.mkdir()
    assert strategy.is_available() and strategy.unavailable_reason() is None
