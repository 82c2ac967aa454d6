"""Hugging Face's environment conventions: implicit token, timeouts, CA bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.network import MINILM, REPO, TOKEN
from tokenizer_acquisition import SmartTokenizerDownload, TokenizerDownloadInfo
from tokenizer_acquisition.settings import load_settings
from tokenizer_acquisition.testing import HubSimulator

pytest.importorskip("aiohttp")

INFO = TokenizerDownloadInfo(REPO, "minilm", ("tokenizer.json",))


def _hf_home_with_login(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "hf-home"
    home.mkdir()
    (home / "token").write_text(TOKEN + "\n")
    return {"HF_HOME": str(home), "HF_HUB_CACHE": str(tmp_path / "no-hub-cache")}


@pytest.mark.parametrize(("disabled", "sent"), [("1", False), (None, True)])
async def test_implicit_token_is_not_sent_when_disabled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, disabled: str | None,
        sent: bool) -> None:
    """HF_HUB_DISABLE_IMPLICIT_TOKEN=1: the stored login token never reaches the wire."""
    for variable in ("HF_TOKEN", "TOKACQ_TOKEN", "TOKACQ_CONFIG", "HF_HUB_OFFLINE",
                     "TOKACQ_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in _hf_home_with_login(tmp_path).items():
        monkeypatch.setenv(variable, value)
    if disabled is None:
        monkeypatch.delenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", raising=False)
    else:
        monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", disabled)
    async with HubSimulator() as sim:
        sim.add_repo_from_dir(REPO, MINILM)
        async with SmartTokenizerDownload.with_downloads(tmp_path / "cache",
                                                         endpoint=sim.endpoint) as d:
            await d.acquire(INFO)
        hub = [r for r in sim.requests if r.listener == "hub"]
    assert hub
    assert all(r.authorized is sent for r in hub)


def test_explicit_token_is_still_sent_with_implicit_disabled(tmp_path: Path) -> None:
    """TOKACQ_TOKEN and the settings are explicit: the switch leaves them alone."""
    env = {**_hf_home_with_login(tmp_path), "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
           "HF_TOKEN": "hf_login", "TOKACQ_TOKEN": TOKEN}
    settings = load_settings(None, {}, environ=env)
    assert settings.network.token is not None and settings.network.token.reveal() == TOKEN
    env.pop("TOKACQ_TOKEN")
    assert load_settings(None, {}, environ=env).network.token is None


def test_hf_timeouts_and_ca_bundle_variables_map_to_network_settings(tmp_path: Path) -> None:
    """HF_HUB_ETAG_TIMEOUT -> connect, HF_HUB_DOWNLOAD_TIMEOUT -> read, CA from env."""
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    other = tmp_path / "requests.pem"
    other.write_text("")
    env = {"HF_HUB_ETAG_TIMEOUT": "3", "HF_HUB_DOWNLOAD_TIMEOUT": "45",
           "SSL_CERT_FILE": str(bundle), "REQUESTS_CA_BUNDLE": str(other),
           "HF_HUB_CACHE": str(tmp_path / "none")}
    settings = load_settings(None, {}, environ=env)
    assert (settings.network.connect_timeout, settings.network.read_timeout) == (3.0, 45.0)
    assert settings.network.ca_bundle == bundle
    assert settings.sources["network.ca_bundle"] == "environment variable SSL_CERT_FILE"
    env.pop("SSL_CERT_FILE")
    assert load_settings(None, {}, environ=env).network.ca_bundle == other
    config = tmp_path / "c.toml"
    config.write_text("[network]\nconnect_timeout = 9\n")
    assert load_settings(config, {}, environ=env).network.connect_timeout == 3.0
