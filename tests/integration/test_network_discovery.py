"""Discovery over real sockets (issue 11): a whole tokenizer by repo name, three repo shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.network import TOKEN, manifest, network, published
from support.repo_shapes import (
    BERT_REPO,
    EXPECTED,
    GPT2_REPO,
    LLAMA_REPO,
    WEIGHTS,
    add_shapes,
    llama_files,
)
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.errors import (
    IntegrityError,
    ListingRefused,
    ListingUnavailable,
    TokenizerNotFound,
)
from tokenizer_acquisition.strategies import CacheOnlyAcquisition, NetworkAcquisition
from tokenizer_acquisition.testing import HubSimulator

pytestmark = pytest.mark.timeout(60)

SHAPES = (BERT_REPO, LLAMA_REPO, GPT2_REPO)


@pytest.fixture
async def sim() -> AsyncIterator[HubSimulator]:
    async with HubSimulator() as simulator:
        add_shapes(simulator)
        yield simulator


@pytest.fixture
async def built() -> AsyncIterator[list[NetworkAcquisition]]:
    strategies: list[NetworkAcquisition] = []
    yield strategies
    for strategy in strategies:
        await strategy.aclose()


def fresh(built: list[NetworkAcquisition], sim: HubSimulator, cache: Path,
          **overrides: object) -> NetworkAcquisition:
    strategy = network(sim, cache, **overrides)
    built.append(strategy)
    return strategy


def discover(repo: str, key: str = "k", **fields: object) -> TokenizerDownloadInfo:
    return TokenizerDownloadInfo(repo=repo, cache_key=key, **fields)  # type: ignore[arg-type]


def weight_requests(sim: HubSimulator) -> list[str]:
    return [r.path for r in sim.requests if any(w in r.path for w in
                                                (*WEIGHTS, "flax_model", "README", "onnx"))]


@pytest.mark.parametrize("repo", SHAPES)
async def test_discovery_fetches_exactly_the_preset_files_of_each_repo_shape(
        sim: HubSimulator, built: list[NetworkAcquisition], tmp_path: Path, repo: str) -> None:
    """BERT, Llama and GPT-2 shapes: the preset's files, no weights, no README, no onnx/."""
    result = await fresh(built, sim, tmp_path).acquire(discover(repo))
    assert set(result.files) == EXPECTED[repo]
    assert set(published(tmp_path, "k")) == EXPECTED[repo]
    assert weight_requests(sim) == []
    assert result.commit == sim.commit_for(repo)


async def test_discovery_adds_one_listing_request_and_fetches_at_the_listed_commit(
        sim: HubSimulator, built: list[NetworkAcquisition], tmp_path: Path) -> None:
    """One /api/models request first; every file then at that commit (never by branch)."""
    await fresh(built, sim, tmp_path).acquire(discover(LLAMA_REPO))
    hub = [r for r in sim.requests if r.listener == "hub"]
    assert hub[0].path.startswith(f"/api/models/{LLAMA_REPO}/revision/main")
    assert len([r for r in hub if "/api/models/" in r.path]) == 1
    commit = sim.commit_for(LLAMA_REPO)
    resolves = [r.path for r in hub if "/resolve/" in r.path]
    assert len(resolves) == len(EXPECTED[LLAMA_REPO])
    assert all(f"/resolve/{commit}/" in path for path in resolves)


async def test_a_discovered_set_is_served_again_with_zero_requests_online_and_cache_only(
        sim: HubSimulator, built: list[NetworkAcquisition], tmp_path: Path) -> None:
    """The recorded selection is the hit: network and cache-only serve it without a request."""
    first = await fresh(built, sim, tmp_path).acquire(discover(GPT2_REPO))
    sim.clear()
    again = await fresh(built, sim, tmp_path).acquire(discover(GPT2_REPO))
    offline = await CacheOnlyAcquisition(tmp_path).acquire(discover(GPT2_REPO))
    assert sim.requests == []
    assert again.from_cache and set(again.files) == set(first.files) == set(offline.files)
    assert manifest(tmp_path, "k")["selection"]["preset"] == "tokenizer"


async def test_cache_only_discovery_miss_names_what_the_key_holds(
        sim: HubSimulator, built: list[NetworkAcquisition], tmp_path: Path) -> None:
    """An explicit set is not a discovered one: the miss names the cached files."""
    explicit = TokenizerDownloadInfo(GPT2_REPO, "k", ("vocab.json", "merges.txt"))
    await fresh(built, sim, tmp_path).acquire(explicit)
    with pytest.raises(TokenizerNotFound) as caught:
        await CacheOnlyAcquisition(tmp_path).acquire(discover(GPT2_REPO))
    assert any("merges.txt, vocab.json" in s and "explicitly named" in s
               for s in caught.value.suggestions)


async def test_cache_only_discovery_picks_from_a_directory_placed_by_hand(
        tmp_path: Path) -> None:
    """Files placed by hand are offered to the preset: weights next to them are ignored."""
    key = tmp_path / "k"
    files = llama_files()
    for name, data in files.items():
        (key / name).parent.mkdir(parents=True, exist_ok=True)
        (key / name).write_bytes(data)
    result = await CacheOnlyAcquisition(tmp_path).acquire(discover(LLAMA_REPO))
    assert set(result.files) == EXPECTED[LLAMA_REPO]
    assert result.path.name == "tokenizer.json"


async def test_include_adds_and_exclude_removes_and_optional_files_are_skipped_when_absent(
        sim: HubSimulator, built: list[NetworkAcquisition], tmp_path: Path) -> None:
    """--include 'onnx/' adds the folder; --exclude drops config.json; absent optional ok."""
    info = discover(LLAMA_REPO, include=["onnx/tokenizer.json"], exclude=["config.json"],
                    optional_files=["added_tokens.json"])
    result = await fresh(built, sim, tmp_path).acquire(info)
    assert set(result.files) == (EXPECTED[LLAMA_REPO] - {"config.json"}) | {
        "onnx/tokenizer.json"}
    explicit = TokenizerDownloadInfo(GPT2_REPO, "g", ("vocab.json",),
                                     optional_files=("merges.txt", "added_tokens.json"))
    got = await fresh(built, sim, tmp_path).acquire(explicit)
    assert set(got.files) == {"vocab.json", "merges.txt"}


async def test_a_repo_without_tokenizer_files_names_the_files_it_has(
        sim: HubSimulator, built: list[NetworkAcquisition], tmp_path: Path) -> None:
    """TokenizerNotFound lists the first 20 names; nothing is downloaded or written."""
    sim.add_repo("org/weights-only", {f"shard-{i:02d}.bin": b"x" for i in range(25)})
    sim.clear()
    with pytest.raises(TokenizerNotFound) as caught:
        await fresh(built, sim, tmp_path).acquire(discover("org/weights-only"))
    text = " ".join(caught.value.suggestions)
    assert "shard-00.bin" in text and "shard-19.bin" in text and "and 5 more" in text
    assert "shard-20.bin" not in text
    assert [r.path for r in sim.requests if "/resolve/" in r.path] == []
    assert published(tmp_path, "k") == []


@pytest.mark.parametrize("hostile", [
    {"rfilename": "../../etc/passwd", "size": 10},
    {"rfilename": "/etc/passwd", "size": 10},
    {"rfilename": "vocab\u0000.txt", "size": 10},
    {"rfilename": "tokenizer.json", "size": 1 << 60},
    {"rfilename": "tokenizer.json", "size": -1},
    {"rfilename": 7, "size": 10},
])
async def test_hostile_listing_entries_are_refused_before_anything_is_fetched(
        sim: HubSimulator, built: list[NetworkAcquisition], tmp_path: Path,
        hostile: dict[str, object]) -> None:
    """'..', absolute, NUL, absurd sizes, wrong types: ListingRefused, no file request."""
    sim.api.siblings = [{"rfilename": "vocab.txt", "size": 5}, hostile]
    with pytest.raises(ListingRefused):
        await fresh(built, sim, tmp_path).acquire(discover(BERT_REPO))
    assert [r.path for r in sim.requests if "/resolve/" in r.path] == []
    assert published(tmp_path, "k") == []


async def test_duplicate_and_oversized_listings_are_refused(
        sim: HubSimulator, built: list[NetworkAcquisition], tmp_path: Path) -> None:
    """Two entries of one name, or more than 10,000 entries: ListingRefused."""
    sim.api.siblings = [{"rfilename": "vocab.txt", "size": 5}] * 2
    with pytest.raises(ListingRefused, match="duplicate"):
        await fresh(built, sim, tmp_path).acquire(discover(BERT_REPO))
    sim.api.siblings = [{"rfilename": f"f{i}.txt", "size": 1} for i in range(10_001)]
    with pytest.raises(ListingRefused, match="10000"):
        await fresh(built, sim, tmp_path).acquire(discover(BERT_REPO))


async def test_listed_digests_verify_files_behind_an_opaque_etag_mirror(
        tmp_path: Path, built: list[NetworkAcquisition]) -> None:
    """Opaque ETags say nothing; the listing's size and digests catch a wrong file."""
    async with HubSimulator(mode="opaque") as sim:
        add_shapes(sim)
        ok = await fresh(built, sim, tmp_path).acquire(discover(GPT2_REPO))
        assert set(ok.files) == EXPECTED[GPT2_REPO]
        # The API now claims another vocab.json of the same size: the bytes are refused.
        listing = [{"rfilename": n, "size": len(d), "blobId": "0" * 40}
                   for n, d in {"vocab.json": (tmp_path / "k" / "vocab.json").read_bytes(),
                                "merges.txt": (tmp_path / "k" / "merges.txt").read_bytes()
                                }.items()]
        sim.api.siblings = listing
        with pytest.raises(IntegrityError) as caught:
            await fresh(built, sim, tmp_path).acquire(discover(GPT2_REPO, key="other"))
        assert caught.value.check == "git-sha1"
        assert published(tmp_path, "other") == []


async def test_a_mirror_without_sizes_is_listed_through_the_paginated_tree(
        sim: HubSimulator, built: list[NetworkAcquisition], tmp_path: Path) -> None:
    """No sizes in /revision/: the tree is followed page by page (Link rel=next)."""
    sim.api.sizes = False
    sim.api.tree_page_size = 3
    result = await fresh(built, sim, tmp_path).acquire(discover(LLAMA_REPO))
    assert set(result.files) == EXPECTED[LLAMA_REPO]
    pages = [r for r in sim.requests if "/tree/" in r.path]
    assert len(pages) >= 4 and all(sim.commit_for(LLAMA_REPO) in r.path for r in pages)


async def test_an_endpoint_without_the_api_is_a_typed_error_and_explicit_files_still_work(
        sim: HubSimulator, built: list[NetworkAcquisition], tmp_path: Path) -> None:
    """ListingUnavailable says to name the files; naming them needs no listing."""
    sim.api.enabled = False
    with pytest.raises(ListingUnavailable) as caught:
        await fresh(built, sim, tmp_path).acquire(discover(GPT2_REPO))
    assert any("-f FILE" in s for s in caught.value.suggestions)
    explicit = TokenizerDownloadInfo(GPT2_REPO, "k", ("vocab.json", "merges.txt"))
    assert (await fresh(built, sim, tmp_path).acquire(explicit)).files


async def test_the_listing_carries_the_token_to_the_endpoint_only(
        tmp_path: Path, built: list[NetworkAcquisition]) -> None:
    """A private repo is listed with the token; LFS bytes from the CDN get none."""
    async with HubSimulator() as sim:
        sim.add_token(TOKEN)
        sim.add_repo("org/private", {"tokenizer.json": b'{"x": 1}' * 10,
                                     "model.safetensors": b"w" * 100},
                     lfs=["tokenizer.json"], private=True)
        result = await fresh(built, sim, tmp_path, token=TOKEN).acquire(
            discover("org/private"))
        assert set(result.files) == {"tokenizer.json"}
        listing = [r for r in sim.requests if "/api/models/" in r.path]
        assert listing and all(r.token_valid for r in listing)
        assert all(not r.authorized for r in sim.requests if r.listener == "cdn")


async def test_refresh_resolves_a_moved_branch_and_plan_says_what_would_change(
        sim: HubSimulator, built: list[NetworkAcquisition], tmp_path: Path) -> None:
    """Without refresh the cached set is served; plan and refresh see the new commit."""
    strategy = fresh(built, sim, tmp_path)
    await strategy.acquire(discover(GPT2_REPO))
    moved = sim.replace_file(GPT2_REPO, "tokenizer_config.json", b'{"model_max_length": 7}')
    sim.clear()
    stale = await strategy.acquire(discover(GPT2_REPO))
    assert stale.from_cache and sim.requests == []
    plan = await strategy.plan(discover(GPT2_REPO))
    assert plan.commit == moved
    assert [f.name for f in plan.to_download] == ["tokenizer_config.json"]
    assert all(f.size for f in plan.files) and published(tmp_path, "k")  # nothing written
    sim.clear()
    fresh_set = await strategy.acquire(discover(GPT2_REPO, refresh=True))
    assert fresh_set.commit == moved
    assert [r.file for r in sim.requests if "/resolve/" in r.path] == ["tokenizer_config.json"]
    sim.clear()
    same = await strategy.acquire(discover(GPT2_REPO, refresh=True))
    assert same.commit == moved and same.bytes_downloaded == 0
    assert len(sim.requests) == 1  # the listing only
