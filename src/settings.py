"""Configuration: TOML file, then environment, then explicit overrides; validated here.

Validation happens before dependency-injector sees a value, so users get our
``ConfigurationError`` (key, value, source, choices) and never the library's internals.
The environment is read when settings are loaded, never at import.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .domain.bucket_layout import S3Options, parse_s3_url
from .domain.environment import offline_source
from .domain.errors import ConfigurationError
from .domain.options import DEFAULT_LOCK_TIMEOUT, NetworkOptions, Secret, check_header_value
from .hf_locations import hf_cache_default, hub_token_file
from .settings_validation import CONVERTERS, STRATEGY_NAMES, bad_value, unknown_key

__all__ = ["NETWORK_STRATEGIES", "STRATEGY_NAMES", "Settings", "default_cache_dir",
           "environment_setting", "hf_cache_default", "hub_token_file", "load_settings"]

NETWORK_STRATEGIES = frozenset({"network"})
#: The hybrid order when none is configured; ``local-dir`` joins it right after
#: ``cache-only`` when ``local_dir`` is configured, then ``hf-cache`` when a Hugging Face
#: cache exists on this machine.
DEFAULT_ORDER = ("cache-only", "network")
#: Settings holding a path: a relative one in a config file is relative to that file.
PATH_KEYS = frozenset({"cache_dir", "hf_cache_dir", "local_dir", "network.token_file",
                       "network.ca_bundle"})

TOP_KEYS = ("strategy", "strategies", "cache_dir", "hf_cache_dir", "local_dir", "offline",
            "lock_timeout", "network", "s3")
NETWORK_KEYS = ("endpoint", "token", "token_file", "connect_timeout", "read_timeout",
                "max_retries", "max_concurrent_files", "max_file_bytes", "ca_bundle",
                "trust_env", "user_agent")
S3_KEYS = ("url", "endpoint_url", "region", "addressing_style", "write_through", "lease_ttl")

# (environment variable, setting key); earlier variables win over later ones.
ENVIRONMENT = (
    ("TOKACQ_STRATEGY", "strategy"),
    ("TOKACQ_CACHE_DIR", "cache_dir"),
    ("TOKACQ_LOCAL_DIR", "local_dir"),
    ("TOKACQ_ENDPOINT", "network.endpoint"),
    ("HF_ENDPOINT", "network.endpoint"),
    ("TOKACQ_TOKEN", "network.token"),
    ("HF_TOKEN", "network.token"),
    ("TOKACQ_LOCK_TIMEOUT", "lock_timeout"),
    # huggingface_hub's names: HEAD/metadata timeout and download (between bytes) timeout
    ("HF_HUB_ETAG_TIMEOUT", "network.connect_timeout"),
    ("HF_HUB_DOWNLOAD_TIMEOUT", "network.read_timeout"),
    # OpenSSL's (honoured by httpx, hence huggingface_hub), then requests'
    ("SSL_CERT_FILE", "network.ca_bundle"),
    ("REQUESTS_CA_BUNDLE", "network.ca_bundle"),
    ("TOKACQ_S3_URL", "s3.url"),
    ("AWS_ENDPOINT_URL_S3", "s3.endpoint_url"),
    ("AWS_ENDPOINT_URL", "s3.endpoint_url"),
    ("AWS_REGION", "s3.region"),
    ("AWS_DEFAULT_REGION", "s3.region"),
)


def default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("tokenizer-acquisition", appauthor=False))


def default_hf_cache_dir() -> Path:
    return hf_cache_default()[0]


@dataclass(frozen=True)
class Settings:
    """The resolved configuration, with where each value came from (for ``tokacq info``)."""

    strategy: str = "hybrid"
    strategies: tuple[str, ...] = DEFAULT_ORDER
    cache_dir: Path = field(default_factory=default_cache_dir)
    hf_cache_dir: Path = field(default_factory=default_hf_cache_dir)
    local_dir: Path | None = None
    offline_source: str | None = None
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    network: NetworkOptions = field(default_factory=NetworkOptions)
    #: The shared bucket (``[s3]``); None when ``s3.url`` is not configured.
    s3: S3Options | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    config_file: Path | None = None

    @property
    def offline(self) -> bool:
        return self.offline_source is not None


# -- loading -----------------------------------------------------------------------------------

def _flatten(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in TOP_KEYS:
            raise unknown_key(key, TOP_KEYS, source)
        if key in ("network", "s3"):
            if not isinstance(value, Mapping):
                raise bad_value(key, value, source, f"a table of {key} settings")
            known = NETWORK_KEYS if key == "network" else S3_KEYS
            for sub, subvalue in value.items():
                if sub not in known:
                    raise unknown_key(f"{key}.{sub}", known, source)
                flat[f"{key}.{sub}"] = subvalue
        else:
            flat[key] = value
    return flat


def read_config_file(path: Path) -> dict[str, Any]:
    import tomllib  # only when a config file is read: ~5 ms of import otherwise

    source = f"config file {path}"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError("config file not found", key="config", value=str(path),
                                 source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"config file unreadable: {exc.__class__.__name__}",
                                 key="config", value=str(path), source=source) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file is not valid TOML: {exc}", key="config",
                                 value=str(path), source=source) from None
    return _flatten(raw, source)


def _environment_layer(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    layer: dict[str, tuple[Any, str]] = {}
    for variable, key in ENVIRONMENT:
        if variable in IMPLICIT_TOKEN_VARIABLES and implicit_token_disabled(environ):
            continue
        value = environ.get(variable)
        if value and key not in layer:
            layer[key] = (value, f"environment variable {variable}")
    decided = offline_source(environ)
    if decided is not None:
        variable, offline = decided
        layer["offline"] = (offline, f"environment variable {variable}")
    return layer


#: Tokens huggingface_hub calls implicit (also the Hub login token file):
#: ``HF_HUB_DISABLE_IMPLICIT_TOKEN`` turns them off; explicit settings still count.
IMPLICIT_TOKEN_VARIABLES = frozenset({"HF_TOKEN"})


def implicit_token_disabled(environ: Mapping[str, str]) -> bool:
    """``HF_HUB_DISABLE_IMPLICIT_TOKEN`` as huggingface_hub reads it (1/true/yes/on)."""
    value = environ.get("HF_HUB_DISABLE_IMPLICIT_TOKEN", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


#: How ``environment_setting`` resolves a setting that no environment variable sets.
_ENVIRONMENT_DEFAULTS: dict[str, Callable[[Mapping[str, str]], Any]] = {
    "cache_dir": lambda env: default_cache_dir(),
    "hf_cache_dir": lambda env: hf_cache_default(env)[0],
    "lock_timeout": lambda env: DEFAULT_LOCK_TIMEOUT,
}


def environment_setting(key: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting (``cache_dir``, ``hf_cache_dir``, ``lock_timeout``) from the environment
    alone, validated, else its default, without resolving the rest of the configuration.

    Strategies built directly use it for what their caller left out: a problem elsewhere
    in the configuration (``TOKACQ_STRATEGY=network`` with ``HF_HUB_OFFLINE=1``) is not
    theirs to report. Config files are the container's and ``load_settings``' business.
    """
    env = os.environ if environ is None else environ
    for variable, name in ENVIRONMENT:
        if name == key and env.get(variable):
            return CONVERTERS[key](key, env[variable], f"environment variable {variable}")
    return _ENVIRONMENT_DEFAULTS[key](env)


def load_settings(
    config_file: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    overrides_source: str = "overrides",
) -> Settings:
    """Resolve settings: defaults < config file < environment < overrides.

    ``overrides_source`` names where overrides came from in messages and ``sources``
    (the CLI says "command line").
    """
    env = os.environ if environ is None else environ
    layers: dict[str, tuple[Any, str]] = {}
    file_path: Path | None = None
    if isinstance(config_file, Mapping):
        for key, value in _flatten(config_file, "configuration mapping").items():
            layers[key] = (value, "configuration mapping")
    else:
        if config_file is None and env.get("TOKACQ_CONFIG"):
            config_file = env["TOKACQ_CONFIG"]
        if config_file is not None:
            file_path = Path(config_file).expanduser()
            for key, value in read_config_file(file_path).items():
                layers[key] = (value, f"config file {file_path}")
    layers.update(_environment_layer(env))
    if overrides:
        for key, value in _flatten(
            {k: v for k, v in overrides.items() if v is not None}, overrides_source
        ).items():
            layers[key] = (value, overrides_source)

    values: dict[str, Any] = {}
    for key, (raw, source) in layers.items():
        values[key] = CONVERTERS[key](key, raw, source)
        if file_path is not None and key in PATH_KEYS and source == f"config file {file_path}":
            # Where the file is, not where the command happens to run.
            values[key] = file_path.parent.absolute() / values[key]  # absolute stays
    sources = {key: source for key, (_, source) in layers.items()}
    return _assemble(values, sources, env, file_path)


_TOKEN_KEYS = frozenset({"network.token", "network.token_file"})


def _assemble(values: dict[str, Any], sources: dict[str, str], env: Mapping[str, str],
              file_path: Path | None) -> Settings:
    strategy = values.get("strategy", "hybrid")
    offline = values.get("offline", False)
    offline_reason = sources.get("offline", "offline") if offline else None
    if strategy in NETWORK_STRATEGIES and offline:
        raise ConfigurationError(
            f"strategy {strategy!r} ({sources.get('strategy', 'default')}) contradicts offline "
            f"mode ({offline_reason})", key="strategy", value=strategy,
            source=sources.get("strategy"), choices=STRATEGY_NAMES,
            suggestions=["use strategy 'hybrid' or 'cache-only' while offline",
                         f"or turn offline mode off ({offline_reason})"])
    token = values.get("network.token")
    if token is None and "network.token_file" in values:
        token = _read_token(values["network.token_file"], sources["network.token_file"])
        sources["network.token"] = sources["network.token_file"]
    if token is None and implicit_token_disabled(env):
        sources["network.token"] = ("not sent: HF_HUB_DISABLE_IMPLICIT_TOKEN ignores HF_TOKEN "
                                    "and the Hub login token")
    elif token is None:
        candidate = hub_token_file(env)
        if candidate.is_file():
            token = _read_token(candidate, f"Hub token file {candidate}") or None
            if token:
                sources["network.token"] = "Hub token file (HF_HOME)"
    # Only the keys that were set: NetworkOptions' own defaults are the only ones.
    present = {key.removeprefix("network."): value for key, value in values.items()
               if key.startswith("network.") and key not in _TOKEN_KEYS}
    network = NetworkOptions(**present, token=Secret(token) if token else None,
                             offline_source=offline_reason)
    hf_cache_dir = values.get("hf_cache_dir")
    if hf_cache_dir is None:
        hf_cache_dir, hf_source = hf_cache_default(env)
        if hf_source:
            sources["hf_cache_dir"] = hf_source
    local_dir = values.get("local_dir")
    if local_dir is None and strategy == "local-dir":
        raise ConfigurationError(
            "strategy 'local-dir' needs a directory to read from, but 'local_dir' is not set",
            key="local_dir", value=None,
            source=sources.get("strategy"),
            suggestions=["set local_dir = \"/path/to/tokenizers\" (laid out as "
                         "<local_dir>/<org>/<name>/<file>) or TOKACQ_LOCAL_DIR",
                         "or choose another strategy"])
    s3 = _s3_options(values, sources, strategy)
    order = values.get("strategies") or _default_order(hf_cache_dir, local_dir)
    if "strategies" not in values and s3 is not None:
        order = (*order[:-1], "s3", order[-1])  # cache-only ... -> s3 -> network
    return Settings(
        strategy=strategy,
        strategies=order,
        cache_dir=values.get("cache_dir") or default_cache_dir(),
        hf_cache_dir=hf_cache_dir,
        local_dir=local_dir,
        offline_source=offline_reason,
        lock_timeout=values.get("lock_timeout", DEFAULT_LOCK_TIMEOUT),
        network=network,
        s3=s3,
        sources=sources,
        config_file=file_path,
    )


def _s3_options(values: Mapping[str, Any], sources: Mapping[str, str],
                strategy: str) -> S3Options | None:
    """``[s3]`` as options, or None when ``s3.url`` is not set (then the other keys may
    only come from the environment, which AWS tools share)."""
    url = values.get("s3.url")
    if url is None:
        stray = [key for key in values if key.startswith("s3.")
                 and not sources.get(key, "").startswith("environment")]
        if stray or strategy == "s3":
            raise ConfigurationError(
                "the s3 strategy needs a bucket, but 's3.url' is not set",
                key="s3.url", value=None,
                source=sources.get(stray[0] if stray else "strategy"),
                suggestions=["set url = \"s3://bucket/prefix\" under [s3], or TOKACQ_S3_URL"])
        return None
    bucket, prefix = parse_s3_url(url, "s3.url", sources.get("s3.url"))
    present = {key.removeprefix("s3."): value for key, value in values.items()
               if key.startswith("s3.") and key != "s3.url"}
    return S3Options(bucket=bucket, prefix=prefix, **present)


def _default_order(hf_cache_dir: Path, local_dir: Path | None = None) -> tuple[str, ...]:
    """``cache-only``, ``local-dir`` if configured, ``hf-cache`` if present, ``network``.

    A configured ``local_dir`` joins whether or not it exists yet: the hybrid strategy
    skips it, saying why, and ``tokacq info`` shows it.
    """
    order = ["cache-only"]
    if local_dir is not None:
        order.append("local-dir")
    if hf_cache_dir.is_dir():
        order.append("hf-cache")
    order.append("network")
    return tuple(order)


def _read_token(path: Path, source: str) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, ValueError) as exc:  # ValueError: undecodable bytes
        reason = getattr(exc, "strerror", None) or exc.__class__.__name__
        raise ConfigurationError(f"token file unreadable ({reason})",
                                 key="network.token_file", value=str(path),
                                 source=source) from None
    return check_header_value("network.token_file", token, source)
