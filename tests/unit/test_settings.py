"""Configuration: file < environment < overrides; every mistake is a ConfigurationError."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tokenizer_acquisition import ConfigurationError
from tokenizer_acquisition.domain.environment import offline_source
from tokenizer_acquisition.domain.options import (
    DEFAULT_LOCK_TIMEOUT,
    NetworkOptions,
    mask_userinfo,
)
from tokenizer_acquisition.hf_locations import hf_home
from tokenizer_acquisition.settings import (
    Settings,
    hf_cache_default,
    hub_token_file,
    load_settings,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokacq.toml"
    path.write_text(text)
    return path


def test_defaults_are_hybrid_over_cache_then_network() -> None:
    """With nothing configured: hybrid, cache-only then network, online."""
    settings = load_settings(environ={})
    assert settings.strategy == "hybrid"
    assert settings.strategies[0] == "cache-only" and "network" in settings.strategies
    assert not settings.offline
    assert settings.network.endpoint == "https://huggingface.co"
    assert "tokenizer-acquisition" in str(settings.cache_dir)


def test_file_values_are_read_and_their_source_recorded(tmp_path: Path) -> None:
    """Every key in the file is applied, and `sources` says it came from the file."""
    path = write(tmp_path, 'strategy = "cache-only"\ncache_dir = "/srv/tok"\n'
                           '[network]\nendpoint = "http://127.0.0.1:9/"\nmax_retries = 2\n')
    settings = load_settings(path, environ={})
    assert settings.strategy == "cache-only"
    assert settings.cache_dir == Path("/srv/tok")
    assert settings.network.endpoint == "http://127.0.0.1:9"
    assert settings.network.max_retries == 2
    assert settings.sources["strategy"] == f"config file {path}"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    """TOKACQ_* beat the file; TOKACQ_ENDPOINT beats HF_ENDPOINT."""
    path = write(tmp_path, 'cache_dir = "/from/file"\n[network]\nendpoint = "http://file:1"\n')
    settings = load_settings(path, environ={
        "TOKACQ_CACHE_DIR": "/from/env", "HF_ENDPOINT": "http://hf:2",
        "TOKACQ_ENDPOINT": "http://tokacq:3"})
    assert settings.cache_dir == Path("/from/env")
    assert settings.network.endpoint == "http://tokacq:3"
    assert settings.sources["network.endpoint"] == "environment variable TOKACQ_ENDPOINT"


def test_config_file_is_found_through_tokacq_config(tmp_path: Path) -> None:
    """TOKACQ_CONFIG names the file when none is passed."""
    path = write(tmp_path, 'strategy = "cache-only"\n')
    assert load_settings(environ={"TOKACQ_CONFIG": str(path)}).strategy == "cache-only"


@pytest.mark.parametrize("variable", ["TOKACQ_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_each_offline_variable_turns_offline_on(variable: str) -> None:
    """One parser for all offline switches; the source is named."""
    settings = load_settings(environ={variable: "1"})
    assert settings.offline and settings.offline_source == f"environment variable {variable}"
    assert settings.network.offline


def test_falsy_offline_values_keep_it_online() -> None:
    """HF_HUB_OFFLINE=0 means online."""
    assert not load_settings(environ={"HF_HUB_OFFLINE": "0"}).offline


def test_tokens_come_from_env_and_never_show_in_repr(tmp_path: Path) -> None:
    """HF_TOKEN is used; the settings object never prints it."""
    settings = load_settings(environ={"HF_TOKEN": "hf_secretvalue123"})
    assert settings.network.token is not None
    assert settings.network.token.reveal() == "hf_secretvalue123"
    assert "hf_secretvalue123" not in repr(settings)


def test_token_file_and_hub_login_file(tmp_path: Path) -> None:
    """token_file is read; without it the Hub's login token under HF_HOME is used."""
    token_file = tmp_path / "tok"
    token_file.write_text("hf_fromfile\n")
    path = write(tmp_path, f'[network]\ntoken_file = "{token_file}"\n')
    assert load_settings(path, environ={}).network.token.reveal() == "hf_fromfile"  # type: ignore[union-attr]
    home = tmp_path / "hfhome"
    home.mkdir()
    (home / "token").write_text("hf_login")
    settings = load_settings(environ={"HF_HOME": str(home)})
    assert settings.network.token is not None and settings.network.token.reveal() == "hf_login"


@pytest.mark.parametrize(("text", "key"), [
    ('strategi = "hybrid"', "strategi"),
    ('[network]\nendpont = "http://x"', "network.endpont"),
])
def test_unknown_keys_name_the_key_file_and_closest_match(
        tmp_path: Path, text: str, key: str) -> None:
    """A typo is reported with the file and a 'did you mean' suggestion."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as err:
        load_settings(path, environ={})
    assert err.value.key == key and err.value.source == f"config file {path}"
    assert any(s.startswith("did you mean") for s in err.value.suggestions)


def test_unknown_strategy_lists_choices_and_closest(tmp_path: Path) -> None:
    """An unknown strategy names the bad value, the valid choices and the closest one."""
    path = write(tmp_path, 'strategy = "netwrok"')
    with pytest.raises(ConfigurationError) as err:
        load_settings(path, environ={})
    error = err.value
    assert error.key == "strategy" and error.value == "netwrok"
    assert "network" in error.choices and "cache-only" in error.choices
    assert "did you mean 'network'?" in error.suggestions


@pytest.mark.parametrize(("text", "key"), [
    ('offline = "maybe"', "offline"),
    ('cache_dir = 3', "cache_dir"),
    ('strategies = []', "strategies"),
    ('strategies = ["cache-only", "cache-only"]', "strategies"),
    ('strategies = ["hybrid"]', "strategies"),
    ('[network]\nmax_retries = -1', "network.max_retries"),
    ('[network]\nmax_retries = 1.5', "network.max_retries"),
    ('[network]\nread_timeout = "soon"', "network.read_timeout"),
    ('[network]\nmax_concurrent_files = 0', "network.max_concurrent_files"),
    ('[network]\nendpoint = "ftp://x"', "network.endpoint"),
    ('[network]\nendpoint = "https://user:pw@host"', "network.endpoint"),
    ('[network]\ntrust_env = 2', "network.trust_env"),
    ('network = 3', "network"),
])
def test_wrong_types_and_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    """Every invalid value is a ConfigurationError naming its key and file."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as err:
        load_settings(path, environ={})
    assert err.value.key == key and err.value.source == f"config file {path}"


def test_bad_token_values_are_not_echoed(tmp_path: Path) -> None:
    """Even an invalid token is never repeated in the error."""
    with pytest.raises(ConfigurationError) as err:
        load_settings({"network": {"token": 12345678}}, environ={})
    assert "12345678" not in str(err.value) and err.value.value is None


def test_network_strategy_with_offline_is_a_contradiction(tmp_path: Path) -> None:
    """strategy = network and offline = true cannot both hold."""
    path = write(tmp_path, 'strategy = "network"\noffline = true\n')
    with pytest.raises(ConfigurationError) as err:
        load_settings(path, environ={})
    assert err.value.key == "strategy" and "offline" in err.value.message


def test_invalid_toml_and_missing_file_are_configuration_errors(tmp_path: Path) -> None:
    """A broken or absent file is reported as such, with its path."""
    with pytest.raises(ConfigurationError) as err:
        load_settings(write(tmp_path, "strategy = "), environ={})
    assert err.value.key == "config"
    with pytest.raises(ConfigurationError):
        load_settings(tmp_path / "absent.toml", environ={})


def test_invalid_environment_values_name_the_variable() -> None:
    """A bad TOKACQ_STRATEGY says it came from the environment."""
    with pytest.raises(ConfigurationError) as err:
        load_settings(environ={"TOKACQ_STRATEGY": "cache_only"})
    assert err.value.source == "environment variable TOKACQ_STRATEGY"
    assert "did you mean 'cache-only'?" in err.value.suggestions


def test_environment_is_read_at_load_not_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changing os.environ after import changes the next load."""
    monkeypatch.setenv("TOKACQ_STRATEGY", "cache-only")
    assert load_settings().strategy == "cache-only"
    monkeypatch.setenv("TOKACQ_STRATEGY", "hybrid")
    assert load_settings().strategy == "hybrid"


@pytest.mark.parametrize("where", ["file", "environment"])
def test_endpoint_credentials_are_masked_never_echoed(tmp_path: Path, where: str) -> None:
    """A user:password@ endpoint is rejected showing https://***@host, and not kept."""
    url = "https://alice:hunter2@mirror.example/hub"
    if where == "file":
        config, environ = write(tmp_path, f'[network]\nendpoint = "{url}"\n'), {}
    else:
        config, environ = None, {"HF_ENDPOINT": url}
    with pytest.raises(ConfigurationError) as err:
        load_settings(config, environ=environ)
    error = err.value
    assert error.key == "network.endpoint"
    assert "https://***@mirror.example/hub" in str(error)
    assert "hunter2" not in str(error) and "alice" not in str(error)
    assert "hunter2" not in repr(error.value) and "alice" not in repr(error.value)


def test_network_options_reject_credentials_in_the_endpoint() -> None:
    """Options built in code get the same check as configuration, with the same masking."""
    with pytest.raises(ConfigurationError) as err:
        NetworkOptions(endpoint="https://u:secretpw@host")
    assert err.value.key == "network.endpoint"
    assert "secretpw" not in str(err.value) and "secretpw" not in repr(err.value.value)
    assert "https://***@host" in str(err.value)


def test_mask_userinfo_hides_only_the_credentials() -> None:
    """Only the part before '@' in the authority is masked; paths with '@' are kept."""
    assert mask_userinfo("https://u:p@host:8/a@b") == "https://***@host:8/a@b"
    assert mask_userinfo("u:p@host/x") == "***@host/x"
    assert mask_userinfo("https://host/a@b") == "https://host/a@b"


def test_explicit_false_offline_overrides_the_file(tmp_path: Path) -> None:
    """TOKACQ_OFFLINE=0 beats `offline = true` in the file, like every other variable."""
    path = write(tmp_path, "offline = true\n")
    settings = load_settings(path, environ={"TOKACQ_OFFLINE": "0"})
    assert not settings.offline and not settings.network.offline
    assert settings.sources["offline"] == "environment variable TOKACQ_OFFLINE"


def test_first_set_offline_variable_decides() -> None:
    """TOKACQ_OFFLINE=0 is a decision: a later HF_HUB_OFFLINE=1 does not turn offline on."""
    assert not load_settings(environ={"TOKACQ_OFFLINE": "0", "HF_HUB_OFFLINE": "1"}).offline
    assert load_settings(environ={"TOKACQ_OFFLINE": " ", "HF_HUB_OFFLINE": "1"}).offline
    assert offline_source({"HF_HUB_OFFLINE": "yes"}) == ("HF_HUB_OFFLINE", True)
    assert offline_source({}) is None


@pytest.mark.parametrize("variable", ["TOKACQ_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_invalid_offline_words_are_configuration_errors(variable: str) -> None:
    """TOKACQ_OFFLINE=maybe is an error naming the variable, not silently online."""
    with pytest.raises(ConfigurationError) as err:
        load_settings(environ={variable: "maybe"})
    assert err.value.key == "offline" and err.value.value == "maybe"
    assert err.value.source == f"environment variable {variable}"
    assert variable in str(err.value)


def test_defaults_are_written_once() -> None:
    """Unset network keys take NetworkOptions' defaults; one default lock timeout."""
    settings = load_settings({"network": {"max_retries": 2}}, environ={})
    assert settings.network == replace(NetworkOptions(), max_retries=2)
    assert settings.lock_timeout == DEFAULT_LOCK_TIMEOUT == Settings().lock_timeout


@pytest.mark.parametrize("environ", [
    {}, {"XDG_CACHE_HOME": "/xdg"}, {"HF_HOME": "/hf", "XDG_CACHE_HOME": "/xdg"}])
def test_hub_cache_and_token_share_one_hf_home(environ: dict[str, str]) -> None:
    """The Hub cache and the login token file are both under the one HF home."""
    assert hf_cache_default(environ)[0] == hf_home(environ) / "hub"
    assert hub_token_file(environ) == hf_home(environ) / "token"


def test_settings_module_keeps_its_public_names() -> None:
    """Splitting validation and HF locations out keeps `settings`' names importable."""
    from tokenizer_acquisition import hf_locations, settings, settings_validation

    assert all((settings.load_settings, settings.Settings, settings.STRATEGY_NAMES,
                settings.NETWORK_STRATEGIES, settings.default_cache_dir,
                settings.hf_cache_default, settings.hub_token_file))
    assert settings.hub_token_file is hf_locations.hub_token_file
    assert settings.STRATEGY_NAMES is settings_validation.STRATEGY_NAMES
