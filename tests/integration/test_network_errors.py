"""Each failure the Hub can answer maps to its typed error, after the right number of requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.network import MINILM, REPO, network
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.errors import (
    EntryNotFound,
    GatedRepository,
    NetworkError,
    RateLimited,
    RepositoryNotFound,
    RevisionNotFound,
)
from tokenizer_acquisition.testing import HubSimulator, Status


@pytest.fixture
async def sim() -> AsyncIterator[HubSimulator]:
    async with HubSimulator() as simulator:
        simulator.add_repo_from_dir(REPO, MINILM, lfs=["tokenizer.json"])
        simulator.add_repo("org/gated", {"config.json": b"{}"}, gated=True)
        simulator.add_repo("org/private", {"config.json": b"{}"}, private=True)
        yield simulator


async def _fail(sim: HubSimulator, tmp_path: Path, info: TokenizerDownloadInfo,
                **overrides: object) -> NetworkError:
    strategy = network(sim, tmp_path, **overrides)
    try:
        with pytest.raises(NetworkError) as raised:
            await strategy.acquire(info)
    finally:
        await strategy.aclose()
    assert not (tmp_path / info.cache_key).exists()
    return raised.value


async def test_missing_repo(sim: HubSimulator, tmp_path: Path) -> None:
    """An unknown repo is RepositoryNotFound after one request, naming the repo."""
    error = await _fail(sim, tmp_path, TokenizerDownloadInfo("org/nope", "k", ("config.json",)))
    assert type(error) is RepositoryNotFound and error.status == 401
    assert any("org/nope" in s for s in error.suggestions)
    assert len(sim.requests) == 1


async def test_private_repo_without_token(sim: HubSimulator, tmp_path: Path) -> None:
    """A private repo looks missing without a token, and the hint says to set one."""
    error = await _fail(sim, tmp_path, TokenizerDownloadInfo("org/private", "k",
                                                             ("config.json",)))
    assert isinstance(error, RepositoryNotFound)
    assert any("HF_TOKEN" in s for s in error.suggestions)
    assert len(sim.requests) == 1


async def test_gated_repo(sim: HubSimulator, tmp_path: Path) -> None:
    """A gated repo without access is GatedRepository with the licence hint."""
    error = await _fail(sim, tmp_path, TokenizerDownloadInfo("org/gated", "k", ("config.json",)))
    assert type(error) is GatedRepository and error.status == 403
    assert any("licence" in s for s in error.suggestions)
    assert len(sim.requests) == 1


async def test_missing_revision(sim: HubSimulator, tmp_path: Path) -> None:
    """An unknown revision is RevisionNotFound."""
    error = await _fail(sim, tmp_path, TokenizerDownloadInfo(REPO, "k", ("config.json",),
                                                             revision="v9"))
    assert type(error) is RevisionNotFound
    assert len(sim.requests) == 1


async def test_missing_entry_names_the_file(sim: HubSimulator, tmp_path: Path) -> None:
    """A missing file is EntryNotFound carrying the file name and the server's request id."""
    error = await _fail(sim, tmp_path, TokenizerDownloadInfo(REPO, "k", ("nope.json",)))
    assert isinstance(error, EntryNotFound) and error.file == "nope.json"
    assert error.request_id and error.request_id.startswith("sim-")
    assert error.url == sim.url(REPO, "nope.json")
    assert len(sim.requests) == 1


async def test_rate_limited_after_retries(sim: HubSimulator, tmp_path: Path) -> None:
    """429 on every attempt ends in RateLimited carrying the server's Retry-After."""
    sim.inject(Status(429, {"Retry-After": "0"}), path="config.json", times=10)
    error = await _fail(sim, tmp_path, TokenizerDownloadInfo(REPO, "k", ("config.json",)),
                        max_retries=2)
    assert isinstance(error, RateLimited) and error.retry_after == 0.0
    assert [r.status for r in sim.requests] == [429, 429, 429]


async def test_rate_limit_beyond_bound_stops_at_once(sim: HubSimulator, tmp_path: Path) -> None:
    """A Retry-After longer than we are willing to wait ends the retries immediately."""
    sim.inject(Status(429, {"Retry-After": "3600"}), path="config.json", times=10)
    error = await _fail(sim, tmp_path, TokenizerDownloadInfo(REPO, "k", ("config.json",)))
    assert isinstance(error, RateLimited) and error.retry_after == 3600.0
    assert len(sim.requests) == 1


async def test_other_4xx_is_not_retried(sim: HubSimulator, tmp_path: Path) -> None:
    """A 400 is a NetworkError after exactly one request."""
    sim.inject(Status(400), path="config.json", times=5)
    error = await _fail(sim, tmp_path, TokenizerDownloadInfo(REPO, "k", ("config.json",)))
    assert type(error) is NetworkError and error.status == 400
    assert len(sim.requests) == 1


async def test_connection_refused_is_network_error(tmp_path: Path) -> None:
    """Nothing listening: NetworkError with no status, naming the endpoint."""
    async with HubSimulator() as sim:
        endpoint = sim.endpoint
    strategy = network(sim, tmp_path, endpoint=endpoint, max_retries=1)
    with pytest.raises(NetworkError) as raised:
        await strategy.acquire(TokenizerDownloadInfo(REPO, "k", ("config.json",)))
    await strategy.aclose()
    assert raised.value.status is None
    assert raised.value.url.startswith(endpoint)


async def test_silent_server_is_retried_then_a_network_error(tmp_path: Path) -> None:
    """A server that accepts but never answers: NetworkError with no status after
    max_retries + 1 attempts, one connection each."""
    # Silence (a read timeout), not a hang-up: aiohttp itself resends an idempotent
    # request once on a dropped connection, which would double the count per attempt.
    accepted = 0

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    endpoint = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server, HubSimulator() as sim:
        strategy = network(sim, tmp_path, endpoint=endpoint, max_retries=2, read_timeout=0.2)
        try:
            with pytest.raises(NetworkError) as raised:
                await strategy.acquire(TokenizerDownloadInfo(REPO, "k", ("config.json",)))
        finally:
            await strategy.aclose()
    assert raised.value.status is None
    assert raised.value.url.startswith(endpoint)
    assert accepted == 2 + 1
    assert sim.requests == []
