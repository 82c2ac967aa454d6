"""Hostile or odd settings: a ConfigurationError when built, naming the setting (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenizer_acquisition.domain.errors import ConfigurationError
from tokenizer_acquisition.domain.options import NetworkOptions, Secret, checked_endpoint
from tokenizer_acquisition.entrypoints.exit_codes import ExitCode, exit_code_for
from tokenizer_acquisition.settings import load_settings

PLAIN = "PlainEchoedSecret-6a1f0c9d2b7e"


def _env_error(**environ: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environ=environ)
    assert exit_code_for(caught.value) is ExitCode.USAGE
    return caught.value


# -- items 6 and 12: endpoints ------------------------------------------------------------------

@pytest.mark.parametrize(("url", "needle"), [
    ("http://127.0.0.1:99999", "Port out of range"),
    ("http://[::1", "Invalid IPv6 URL"),
    ("http://host:1?x=1", "query"),
    ("http://host:1/#frag", "fragment"),
    ("http://host?", "query"),
    ("http://", "no host"),
])
def test_a_malformed_endpoint_is_a_configuration_error(url: str, needle: str) -> None:
    """Bad ports, broken IPv6 hosts, queries and fragments fail when settings are built."""
    error = _env_error(TOKACQ_ENDPOINT=url)
    assert error.key == "network.endpoint"
    assert "TOKACQ_ENDPOINT" in str(error) and needle in str(error)


def test_the_scheme_is_accepted_in_any_case() -> None:
    """HTTP:// and HtTpS:// are http and https (returned lowercase)."""
    assert checked_endpoint("HTTP://Mirror.internal:8080/") == "http://Mirror.internal:8080"
    assert load_settings(environ={"HF_ENDPOINT": "HtTpS://hub.example"}
                         ).network.endpoint == "https://hub.example"


# -- item 11: control characters in header values ---------------------------------------------

@pytest.mark.parametrize("bad", [f"{PLAIN}\r\n", f"{PLAIN}\nX-Injected: 1", f"a\x00{PLAIN}"])
def test_a_token_with_a_line_break_is_a_configuration_error(bad: str) -> None:
    """HF_TOKEN with CR/LF fails when built, naming the setting and never the value."""
    error = _env_error(HF_TOKEN=bad)
    assert error.key == "network.token" and error.value is None
    assert PLAIN not in f"{error} {error!r} {error.suggestions}"


def test_a_token_file_with_an_inner_line_break_is_a_configuration_error(tmp_path: Path) -> None:
    """A token file holding two lines names network.token_file, not the token."""
    token_file = tmp_path / "token"
    token_file.write_text("first-half-of-a-secret\nsecond-half-of-a-secret\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"network": {"token_file": str(token_file)}}, environ={})
    assert caught.value.key == "network.token_file"
    assert "half-of-a-secret" not in f"{caught.value} {caught.value!r}"


def test_a_user_agent_with_a_line_break_is_a_configuration_error() -> None:
    """network.user_agent is a header value too."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"network": {"user_agent": "me/1\r\nX-Evil: 1"}}, environ={})
    assert caught.value.key == "network.user_agent"


def test_network_options_built_directly_check_header_values() -> None:
    """The same check guards NetworkOptions built in code."""
    with pytest.raises(ConfigurationError, match=r"network\.token"):
        NetworkOptions(token=Secret(f"{PLAIN}\n"))
    with pytest.raises(ConfigurationError, match=r"network\.user_agent"):
        NetworkOptions(user_agent="x\x1b[31m")


# -- item 18: local_dir in the default order --------------------------------------------------

def test_a_configured_local_dir_joins_the_default_order_after_cache_only(tmp_path: Path
                                                                          ) -> None:
    """TOKACQ_LOCAL_DIR alone puts local-dir right after cache-only."""
    settings = load_settings(environ={"TOKACQ_LOCAL_DIR": str(tmp_path),
                                      "HF_HUB_CACHE": str(tmp_path / "none")})
    assert settings.strategies == ("cache-only", "local-dir", "network")
    hf = tmp_path / "hf"
    hf.mkdir()
    settings = load_settings(environ={"TOKACQ_LOCAL_DIR": str(tmp_path),
                                      "HF_HUB_CACHE": str(hf)})
    assert settings.strategies == ("cache-only", "local-dir", "hf-cache", "network")


# -- item 20: messages -------------------------------------------------------------------------

def test_a_wrong_number_says_an_integer_not_a_int() -> None:
    """'expected an integer >= 1', never 'expected a int'."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"network": {"max_retries": "many"}}, environ={})
    assert "a int" not in str(caught.value) and "an integer" in str(caught.value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"lock_timeout": "soon"}, environ={})
    assert "a float" not in str(caught.value) and "a number" in str(caught.value)


def test_relative_paths_in_a_config_file_are_relative_to_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cache_dir = "cache" in /etc/x/tokacq.toml means /etc/x/cache, wherever we run."""
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    config = config_dir / "tokacq.toml"
    config.write_text('cache_dir = "cache"\nlocal_dir = "../bundle"\n'
                      'hf_cache_dir = "/abs/hf"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(config, environ={})
    assert settings.cache_dir == config_dir / "cache"
    assert settings.local_dir is not None and settings.local_dir.resolve() == tmp_path / "bundle"
    assert settings.hf_cache_dir == Path("/abs/hf")
    # The environment and the command line keep meaning the current directory.
    settings = load_settings(config, {"cache_dir": "here"}, environ={})
    assert settings.cache_dir == Path("here")


def test_the_network_requirement_names_the_cache_once(tmp_path: Path) -> None:
    """"a writable cache at the cache at ..." reads "... the cache at ..." once."""
    pytest.importorskip("aiohttp")  # the core CI environment has none
    from tokenizer_acquisition.strategies import NetworkAcquisition

    strategy = NetworkAcquisition(tmp_path, options=NetworkOptions(trust_env=False))
    text = " ".join(strategy.requirements())
    assert text.count("cache at") == 1 and str(tmp_path) in text
