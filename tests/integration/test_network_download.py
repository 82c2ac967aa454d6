"""Downloads over real sockets from the Hub simulator: outcome and the requests on the wire."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.network import (
    MINILM,
    MINILM_FILES,
    REPO,
    blob,
    bytes_sent,
    manifest,
    network,
    published,
    wait_for_partial,
)
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.errors import IntegrityError, NetworkError, OfflineModeError
from tokenizer_acquisition.strategies import NetworkAcquisition
from tokenizer_acquisition.testing import (
    Corrupt,
    Endless,
    HubSimulator,
    IgnoreRange,
    ResetAfter,
    SlowDrip,
    Status,
    Truncate,
    WrongLength,
)

BIG = blob(3_000_000)


@pytest.fixture
async def sim() -> AsyncIterator[HubSimulator]:
    async with HubSimulator() as simulator:
        simulator.add_repo_from_dir(REPO, MINILM, lfs=["tokenizer.json"])
        simulator.add_repo("org/big", {"tokenizer.model": BIG, "regular.bin": BIG[:2_000_000]},
                           lfs=["tokenizer.model"])
        yield simulator


@pytest.fixture
async def closing() -> AsyncIterator[list[NetworkAcquisition]]:
    """Strategies built by a test, closed at teardown even when the test fails."""
    built: list[NetworkAcquisition] = []
    yield built
    for strategy in built:
        await strategy.aclose()


def closing_add(closing: list[NetworkAcquisition], sim: HubSimulator, cache: Path,
                **overrides: object) -> NetworkAcquisition:
    strategy = network(sim, cache, **overrides)
    closing.append(strategy)
    return strategy


def _minilm(**kw: object) -> TokenizerDownloadInfo:
    return TokenizerDownloadInfo(REPO, "minilm", MINILM_FILES, **kw)  # type: ignore[arg-type]


def _big(file: str = "tokenizer.model") -> TokenizerDownloadInfo:
    return TokenizerDownloadInfo("org/big", "big", (file,))


async def test_clean_download_is_byte_identical(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """The fixture set arrives byte for byte; tokenizers sees 30522 tokens; one GET each."""
    from tokenizers import Tokenizer

    strategy = closing_add(closing, sim, tmp_path)
    result = await strategy.acquire(_minilm(expected_vocab=30522))
    assert not result.from_cache and result.strategy == "network"
    assert result.commit == sim.commit_for(REPO)
    for name in MINILM_FILES:
        assert result.files[name].read_bytes() == (MINILM / name).read_bytes()
    assert result.bytes_downloaded == sum((MINILM / n).stat().st_size for n in MINILM_FILES)
    assert Tokenizer.from_file(str(result.path)).get_vocab_size() == 30522
    for name in MINILM_FILES:
        gets = sim.file_gets(name)
        assert len(gets) == 1 and gets[0].range is None
    cdn = [r for r in sim.requests if r.listener == "cdn"]
    assert [r.file for r in cdn] == ["tokenizer.json"]
    assert not list((tmp_path / ".tokacq" / "partials").rglob("*.tokacq-partial"))


async def test_manifest_records_provenance(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """Each published file has size, sha256, etag, commit, revision, repo and source."""
    import hashlib

    strategy = closing_add(closing, sim, tmp_path)
    await strategy.acquire(_minilm())
    entry = manifest(tmp_path, "minilm")["files"]["tokenizer.json"]
    data = (MINILM / "tokenizer.json").read_bytes()
    assert entry["size"] == len(data)
    assert entry["sha256"] == entry["etag"] == hashlib.sha256(data).hexdigest()
    assert entry["commit"] == sim.commit_for(REPO)
    assert (entry["revision"], entry["repo"]) == ("main", REPO)
    assert entry["source"] == sim.url(REPO, "tokenizer.json")
    assert entry["fetched_at"] > 0


async def test_cache_hit_makes_zero_requests(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """A complete cached set is served without any HTTP request."""
    strategy = closing_add(closing, sim, tmp_path)
    await strategy.acquire(_minilm())
    sim.clear()
    again = await strategy.acquire(_minilm(expected_vocab=30522))
    assert again.from_cache and again.bytes_downloaded == 0
    assert sim.requests == []


async def test_offline_opens_no_connection(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """Offline mode raises OfflineModeError and the simulator sees nothing."""
    strategy = closing_add(closing, sim, tmp_path, offline_source="HF_HUB_OFFLINE")
    assert not strategy.is_available()
    with pytest.raises(OfflineModeError):
        await strategy.acquire(_minilm())
    assert sim.requests == []


async def test_resume_after_reset(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """A reset mid-file resumes with Range + If-Range; under 2x the file crosses the wire."""
    sim.inject(ResetAfter(1_000_000), path="tokenizer.model")
    strategy = closing_add(closing, sim, tmp_path)
    result = await strategy.acquire(_big())
    assert result.path.read_bytes() == BIG
    gets = sim.file_gets("tokenizer.model")
    assert len(gets) == 2
    assert gets[1].range is not None and gets[1].range.startswith("bytes=")
    assert gets[1].if_range == f'"{__import__("hashlib").sha256(BIG).hexdigest()}"'
    assert gets[1].status == 206
    assert bytes_sent(sim, "tokenizer.model") < 2 * len(BIG)


async def test_truncated_body_is_retried(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """A clean close before Content-Length is complete is resumed, and the file is right."""
    sim.inject(Truncate(500_000), path="regular.bin")
    strategy = closing_add(closing, sim, tmp_path)
    result = await strategy.acquire(_big("regular.bin"))
    assert result.path.read_bytes() == BIG[:2_000_000]
    gets = sim.file_gets("regular.bin")
    assert len(gets) == 2 and gets[1].range is not None


async def test_server_ignoring_range(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """A 200 to a ranged request restarts the partial from that body; result correct."""
    sim.inject(ResetAfter(1_000_000), path="regular.bin")
    sim.inject(IgnoreRange(), path="regular.bin")
    strategy = closing_add(closing, sim, tmp_path)
    result = await strategy.acquire(_big("regular.bin"))
    assert result.path.read_bytes() == BIG[:2_000_000]
    gets = sim.file_gets("regular.bin")
    assert len(gets) == 2
    assert gets[1].range is not None and gets[1].status == 200


async def test_file_changed_between_attempts(closing: list[NetworkAcquisition],
                                             sim: HubSimulator, tmp_path: Path) -> None:
    """If-Range mismatch: the server sends the new file whole; the old partial is dropped."""
    sim.inject(SlowDrip(chunk_size=16_384, delay_s=0.005), path="regular.bin")
    first = closing_add(closing, sim, tmp_path)
    task = asyncio.create_task(first.acquire(_big("regular.bin")))
    await wait_for_partial(tmp_path, "big", 100_000)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    changed = blob(2_000_000, seed=99)
    sim.replace_file("org/big", "regular.bin", changed)
    second = closing_add(closing, sim, tmp_path)
    result = await second.acquire(_big("regular.bin"))
    assert result.path.read_bytes() == changed
    assert result.commit == sim.commit_for("org/big")
    gets = sim.file_gets("regular.bin")
    assert len(gets) == 2
    assert gets[1].range is not None and gets[1].if_range is not None
    assert gets[1].status == 200


async def test_corrupted_body_raises_and_publishes_nothing(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """Flipped bytes under the original ETag: IntegrityError, no file, no manifest."""
    sim.inject(Corrupt(), path="tokenizer.model")
    strategy = closing_add(closing, sim, tmp_path)
    with pytest.raises(IntegrityError) as raised:
        await strategy.acquire(_big())
    assert raised.value.check == "sha256"
    assert published(tmp_path, "big") == []
    assert not (tmp_path / ".tokacq" / "manifests" / "big.json").exists()
    assert len(sim.file_gets("tokenizer.model")) == 1


async def test_corrupt_regular_file_fails_git_sha1(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """A regular file is checked against its git blob sha1 ETag."""
    sim.inject(Corrupt(), path="config.json")
    strategy = closing_add(closing, sim, tmp_path)
    info = TokenizerDownloadInfo(REPO, "cfg", ("config.json",))
    with pytest.raises(IntegrityError) as raised:
        await strategy.acquire(info)
    assert raised.value.check == "git-sha1"
    assert published(tmp_path, "cfg") == []


async def test_short_well_framed_body_fails_verification(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """A server announcing and sending fewer bytes than the file: IntegrityError."""
    sim.inject(WrongLength(-10), path="config.json")
    strategy = closing_add(closing, sim, tmp_path)
    with pytest.raises(IntegrityError):
        await strategy.acquire(TokenizerDownloadInfo(REPO, "cfg", ("config.json",)))
    assert published(tmp_path, "cfg") == []


async def test_429_retry_after_is_honoured(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """A 429 with Retry-After: 1 waits about a second, then succeeds."""
    sim.inject(Status(429, {"Retry-After": "1"}), path="config.json", on="body")
    strategy = closing_add(closing, sim, tmp_path)
    started = time.monotonic()
    result = await strategy.acquire(TokenizerDownloadInfo(REPO, "cfg", ("config.json",)))
    elapsed = time.monotonic() - started
    assert result.path.read_bytes() == (MINILM / "config.json").read_bytes()
    assert elapsed >= 0.9
    statuses = [r.status for r in sim.requests_for("config.json")]
    assert statuses == [429, 200]


async def test_503_twice_then_success(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """Two 503s are retried; the third request gets the file."""
    sim.inject(Status(503), path="config.json", times=2)
    strategy = closing_add(closing, sim, tmp_path)
    result = await strategy.acquire(TokenizerDownloadInfo(REPO, "cfg", ("config.json",)))
    assert result.path.read_bytes() == (MINILM / "config.json").read_bytes()
    assert [r.status for r in sim.requests_for("config.json")] == [503, 503, 200]


async def test_persistent_500_gives_up_after_max_retries(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """A server that keeps failing is asked 1 + max_retries times, then NetworkError."""
    sim.inject(Status(500, {"X-Error-Message": "broken"}), path="config.json", times=10)
    strategy = closing_add(closing, sim, tmp_path, max_retries=2)
    with pytest.raises(NetworkError) as raised:
        await strategy.acquire(TokenizerDownloadInfo(REPO, "cfg", ("config.json",)))
    assert raised.value.status == 500 and raised.value.server_message == "broken"
    assert raised.value.request_id
    assert len(sim.requests_for("config.json")) == 3


async def test_max_file_bytes_from_announced_size(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """A Content-Length over max_file_bytes is refused before the body is read."""
    strategy = closing_add(closing, sim, tmp_path, max_file_bytes=1_000_000)
    with pytest.raises(IntegrityError) as raised:
        await strategy.acquire(_big("regular.bin"))
    assert raised.value.check == "max_file_bytes"
    assert len(sim.requests_for("regular.bin")) == 1
    assert published(tmp_path, "big") == []


async def test_max_file_bytes_while_streaming(
    closing: list[NetworkAcquisition], sim: HubSimulator, tmp_path: Path
) -> None:
    """A body without a length that never ends is cut at max_file_bytes."""
    sim.inject(Endless(cap_bytes=50_000_000), path="config.json")
    strategy = closing_add(closing, sim, tmp_path, max_file_bytes=2_000_000)
    with pytest.raises(IntegrityError) as raised:
        await strategy.acquire(TokenizerDownloadInfo(REPO, "cfg", ("config.json",)))
    assert raised.value.check == "max_file_bytes"
    assert published(tmp_path, "cfg") == []
    assert len(sim.requests_for("config.json")) == 1


@pytest.mark.parametrize("mode", ["mirror", "opaque"])
async def test_mirror_modes(closing: list[NetworkAcquisition], tmp_path: Path, mode: str) -> None:
    """Mirrors serving LFS directly (sha256 ETag) or with opaque ETags both work."""
    async with HubSimulator(mode=mode) as mirror:  # type: ignore[arg-type]
        mirror.add_repo_from_dir(REPO, MINILM, lfs=["tokenizer.json"])
        strategy = closing_add(closing, mirror, tmp_path)
        result = await strategy.acquire(_minilm(expected_vocab=30522))
        assert [r.listener for r in mirror.requests] == ["hub"] * len(MINILM_FILES)
    assert result.path.read_bytes() == (MINILM / "tokenizer.json").read_bytes()


async def test_opaque_mirror_resume_checks_identity(
    closing: list[NetworkAcquisition], tmp_path: Path
) -> None:
    """With a weak ETag no If-Range is sent; the resumed file still verifies by size."""
    async with HubSimulator(mode="opaque") as mirror:
        mirror.add_repo("org/big", {"regular.bin": BIG[:2_000_000]})
        mirror.inject(ResetAfter(1_000_000), path="regular.bin")
        strategy = closing_add(closing, mirror, tmp_path)
        result = await strategy.acquire(_big("regular.bin"))
        gets = mirror.file_gets("regular.bin")
    assert result.path.read_bytes() == BIG[:2_000_000]
    assert gets[1].range is not None and gets[1].if_range is None
