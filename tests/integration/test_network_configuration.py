"""NetworkAcquisition built from keyword options and the environment, as users build it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support.logs import capture_events
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.errors import ConfigurationError, OfflineModeError
from tokenizer_acquisition.domain.options import DEFAULT_LOCK_TIMEOUT, NetworkOptions
from tokenizer_acquisition.strategies import NetworkAcquisition
from tokenizer_acquisition.testing import HubSimulator


async def test_hf_endpoint_from_environment(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_ENDPOINT points a keyword-built strategy at a mirror; HF_TOKEN is sent to it."""
    async with HubSimulator() as sim:
        sim.add_repo("org/m", {"config.json": b"{}"}, private=True)
        sim.add_token("hf_EnvironmentToken12345")
        monkeypatch.setenv("HF_ENDPOINT", sim.endpoint + "/")
        monkeypatch.setenv("HF_TOKEN", "hf_EnvironmentToken12345")
        strategy = NetworkAcquisition(tmp_path, trust_env=False, max_retries=0)
        result = await strategy.acquire(TokenizerDownloadInfo("org/m", "m", ("config.json",)))
        await strategy.aclose()
        assert [r.token_valid for r in sim.requests] == [True]
    assert strategy.options.endpoint == sim.endpoint
    assert result.path.read_bytes() == b"{}"


async def test_hf_hub_offline_from_environment(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_HUB_OFFLINE makes the strategy unavailable, naming the variable."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    strategy = NetworkAcquisition(tmp_path)
    assert not strategy.is_available()
    assert "HF_HUB_OFFLINE" in (strategy.unavailable_reason() or "")
    with pytest.raises(OfflineModeError):
        await strategy.acquire(TokenizerDownloadInfo("org/m", "m", ("config.json",)))


def test_bad_option_is_a_configuration_error(tmp_path: Path) -> None:
    """An invalid or unknown keyword fails at construction with ConfigurationError."""
    with pytest.raises(ConfigurationError):
        NetworkAcquisition(tmp_path, max_retries=-1)
    with pytest.raises(ConfigurationError):
        NetworkAcquisition(tmp_path, max_retrys=3)


def test_plain_http_remote_endpoint_warns(tmp_path: Path) -> None:
    """A plain-http endpoint that is not loopback logs a warning; loopback does not."""
    with capture_events() as logs:
        NetworkAcquisition(tmp_path, endpoint="http://mirror.example")
        NetworkAcquisition(tmp_path, endpoint="http://127.0.0.1:9")
    warnings = [e for e in logs if e["event"] == "tokenizer.endpoint.insecure"]
    assert [w["endpoint"] for w in warnings] == ["http://mirror.example"]
    assert warnings[0]["log_level"] == "warning"


def test_cache_only_never_imports_aiohttp(tmp_path: Path) -> None:
    """Importing the package and serving from the cache leaves aiohttp unloaded."""
    code = (
        "import sys, tokenizer_acquisition as t\n"
        f"s = t.CacheOnlyAcquisition({str(tmp_path)!r})\n"
        "import tokenizer_acquisition.domain.network\n"
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_credentials_in_endpoint_are_rejected_and_masked(tmp_path: Path) -> None:
    """user:password@ in the endpoint fails however the strategy is built, masked."""
    with pytest.raises(ConfigurationError) as by_keyword:
        NetworkAcquisition(tmp_path, endpoint="https://u:pw1234@host")
    with pytest.raises(ConfigurationError) as by_options:
        NetworkAcquisition(tmp_path, options=NetworkOptions(endpoint="https://u:pw1234@host"))
    for err in (by_keyword, by_options):
        assert err.value.key == "network.endpoint"
        assert "pw1234" not in str(err.value) and "pw1234" not in repr(err.value.value)


def test_lock_timeout_comes_from_the_environment(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """TOKACQ_LOCK_TIMEOUT applies when lock_timeout is not given; an explicit one wins."""
    monkeypatch.setenv("TOKACQ_LOCK_TIMEOUT", "5")
    assert NetworkAcquisition(tmp_path).lock_timeout == 5.0
    assert NetworkAcquisition(tmp_path, options=NetworkOptions()).lock_timeout == 5.0
    assert NetworkAcquisition(tmp_path, lock_timeout=7).lock_timeout == 7
    monkeypatch.delenv("TOKACQ_LOCK_TIMEOUT")
    assert NetworkAcquisition(tmp_path, options=NetworkOptions()).lock_timeout == \
        DEFAULT_LOCK_TIMEOUT


def test_options_given_skip_unrelated_configuration(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With options and no cache_dir, only the cache directory is resolved (no contradiction)."""
    monkeypatch.setenv("TOKACQ_STRATEGY", "network")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKACQ_CACHE_DIR", str(tmp_path))
    assert NetworkAcquisition(options=NetworkOptions()).cache_dir == tmp_path
