"""The token goes to the endpoint's host only, and never into logs, errors or the manifest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.logs import capture_events
from support.network import MINILM, REPO, TOKEN, network
from support.seeding import current_snapshot
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.errors import EntryNotFound
from tokenizer_acquisition.testing import HubSimulator, ResetAfter

FILES = ("tokenizer.json", "config.json")


async def _private(sim: HubSimulator) -> None:
    sim.add_repo_from_dir("org/private", MINILM, lfs=["tokenizer.json"], private=True)
    sim.add_token(TOKEN)


@pytest.fixture
async def sim() -> AsyncIterator[HubSimulator]:
    async with HubSimulator() as simulator:
        await _private(simulator)
        yield simulator


async def test_token_reaches_hub_but_never_the_cdn(sim: HubSimulator, tmp_path: Path) -> None:
    """Hub requests carry a valid token; the redirect to the CDN host drops it."""
    sim.inject(ResetAfter(100_000), path="tokenizer.json")
    strategy = network(sim, tmp_path, token=TOKEN)
    with capture_events() as logs:
        result = await strategy.acquire(TokenizerDownloadInfo("org/private", "p", FILES))
    await strategy.aclose()
    assert result.path.read_bytes() == (MINILM / "tokenizer.json").read_bytes()
    hub = [r for r in sim.requests if r.listener == "hub"]
    cdn = [r for r in sim.requests if r.listener == "cdn"]
    assert hub and all(r.authorized and r.token_valid for r in hub)
    assert cdn and not any(r.authorized for r in cdn)
    assert {r.host for r in cdn} == {sim.cdn_host} and sim.cdn_host != sim.host
    gets = sim.file_gets("tokenizer.json", "org/private")
    assert len(gets) >= 2, "the reset body was never asked for again"
    assert gets[0].fault == repr(ResetAfter(100_000))
    resumed = gets[1].range
    assert resumed is not None and int(resumed.removeprefix("bytes=").split("-")[0]) > 0
    assert logs, "nothing was logged, so the token check below would prove nothing"
    assert TOKEN not in repr(logs)
    snapshot = current_snapshot(tmp_path, "p")
    assert result.path == snapshot / "tokenizer.json"
    manifest_file = snapshot.with_name(f"{snapshot.name}.json")
    assert "org/private" in manifest_file.read_text()  # the set's own manifest, read
    assert TOKEN not in manifest_file.read_text()
    for path in (tmp_path / ".tokacq").rglob("*"):  # journals, sidecars, blobs too
        assert not path.is_file() or TOKEN.encode() not in path.read_bytes(), path


async def test_relative_redirect_keeps_the_token(tmp_path: Path) -> None:
    """A relative 307 (the Hub's resolve-cache) stays on the endpoint, token included."""
    async with HubSimulator(relative_redirect=True) as sim:
        await _private(sim)
        strategy = network(sim, tmp_path, token=TOKEN)
        result = await strategy.acquire(TokenizerDownloadInfo("org/private", "p", FILES))
        await strategy.aclose()
        cached = sim.requests_for("/api/resolve-cache/")
        cdn = [r for r in sim.requests if r.listener == "cdn"]
    assert result.files["config.json"].read_bytes() == (MINILM / "config.json").read_bytes()
    assert cached and all(r.authorized and r.token_valid for r in cached)
    assert cdn and not any(r.authorized for r in cdn)


async def test_token_never_in_error_messages(sim: HubSimulator, tmp_path: Path) -> None:
    """An error raised while a token is configured shows neither the token nor a header."""
    strategy = network(sim, tmp_path, token=TOKEN)
    with capture_events() as logs, pytest.raises(EntryNotFound) as raised:
        await strategy.acquire(TokenizerDownloadInfo("org/private", "p", ("nope.json",)))
    await strategy.aclose()
    text = f"{raised.value!s} {raised.value!r} {vars(raised.value)!r} {logs!r}"
    assert TOKEN not in text and "Bearer" not in text
    assert sim.requests[0].token_valid


async def test_token_not_sent_to_other_hosts_by_default(tmp_path: Path) -> None:
    """Without a token configured nothing is sent, even to the endpoint."""
    async with HubSimulator() as sim:
        sim.add_repo_from_dir(REPO, MINILM, lfs=["tokenizer.json"])
        strategy = network(sim, tmp_path)
        await strategy.acquire(TokenizerDownloadInfo(REPO, "m", FILES))
        await strategy.aclose()
        assert not any(r.authorized for r in sim.requests)
