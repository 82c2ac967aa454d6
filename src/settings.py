"""Configuration: TOML file, then environment, then explicit overrides; validated here.

Validation happens before dependency-injector sees a value, so users get our
``ConfigurationError`` (key, value, source, choices) and never the library's internals.
The environment is read when settings are loaded, never at import.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .domain.environment import OFFLINE_VARIABLES, parse_bool
from .domain.errors import ConfigurationError
from .domain.options import DEFAULT_ENDPOINT, NetworkOptions, Secret

STRATEGY_NAMES = ("hybrid", "cache-only", "hf-cache", "local-dir", "network")
NETWORK_STRATEGIES = frozenset({"network"})
#: The hybrid order when none is configured; ``hf-cache`` joins it (after ``cache-only``)
#: only when a Hugging Face cache exists on this machine.
DEFAULT_ORDER = ("cache-only", "network")

TOP_KEYS = ("strategy", "strategies", "cache_dir", "hf_cache_dir", "local_dir", "offline",
            "lock_timeout", "network")
NETWORK_KEYS = ("endpoint", "token", "token_file", "connect_timeout", "read_timeout",
                "max_retries", "max_concurrent_files", "max_file_bytes", "ca_bundle",
                "trust_env", "user_agent")

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
)


def default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("tokenizer-acquisition", appauthor=False))


def hf_cache_default(environ: Mapping[str, str] | None = None) -> tuple[Path, str | None]:
    """Where ``huggingface_hub`` keeps its cache, and the variable that said so (if any).

    Same rule as ``huggingface_hub.constants``: ``HF_HUB_CACHE`` (or its legacy name
    ``HUGGINGFACE_HUB_CACHE``), else ``$HF_HOME/hub``, else
    ``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``.
    """
    env = os.environ if environ is None else environ
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(variable):
            return Path(env[variable]).expanduser(), f"environment variable {variable}"
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub", "environment variable HF_HOME"
    if env.get("XDG_CACHE_HOME"):
        return (Path(env["XDG_CACHE_HOME"]).expanduser() / "huggingface" / "hub",
                "environment variable XDG_CACHE_HOME")
    return Path("~/.cache/huggingface/hub").expanduser(), None


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
    lock_timeout: float = 600.0
    network: NetworkOptions = field(default_factory=NetworkOptions)
    sources: Mapping[str, str] = field(default_factory=dict)
    config_file: Path | None = None

    @property
    def offline(self) -> bool:
        return self.offline_source is not None

    def as_dict(self) -> dict[str, Any]:
        """Plain values for dependency-injector's strict Configuration (token stays a Secret)."""
        return {
            "strategy": self.strategy,
            "strategies": list(self.strategies),
            "cache_dir": str(self.cache_dir),
            "hf_cache_dir": str(self.hf_cache_dir),
            "local_dir": None if self.local_dir is None else str(self.local_dir),
            "offline": self.offline,
            "lock_timeout": self.lock_timeout,
        }


# -- validation helpers ------------------------------------------------------------------------

def _closest(value: str, choices: tuple[str, ...]) -> list[str]:
    match = difflib.get_close_matches(value, choices, n=1)
    return [f"did you mean {match[0]!r}?"] if match else []


def _unknown_key(key: str, choices: tuple[str, ...], source: str) -> ConfigurationError:
    leaf = key.rsplit(".", 1)[-1]
    return ConfigurationError(
        f"unknown setting {key!r}", key=key, value=None, source=source, choices=choices,
        suggestions=[*_closest(leaf, choices), f"valid keys: {', '.join(choices)}"],
    )


def _bad(key: str, value: object, source: str, expected: str,
         choices: tuple[str, ...] = ()) -> ConfigurationError:
    shown = "***" if key.endswith("token") else repr(value)
    hints = _closest(value, choices) if isinstance(value, str) and choices else []
    if choices:
        hints.append(f"valid choices: {', '.join(choices)}")
    return ConfigurationError(f"setting {key!r} = {shown} is invalid: expected {expected}",
                              key=key, value=None if key.endswith("token") else value,
                              source=source, choices=choices, suggestions=hints)


def _as_bool(key: str, value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and parse_bool(value) is not None:
        return bool(parse_bool(value))
    raise _bad(key, value, source, "a boolean (true/false)")


def _as_number(kind: type, minimum: float) -> Callable[[str, Any, str], Any]:
    def convert(key: str, value: Any, source: str) -> Any:
        if isinstance(value, str):
            try:
                value = kind(value)
            except ValueError:
                raise _bad(key, value, source, f"a {kind.__name__} >= {minimum}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(key, value, source, f"a {kind.__name__} >= {minimum}")
        if kind is int and not isinstance(value, int):
            raise _bad(key, value, source, f"an int >= {minimum}")
        if not math.isfinite(value) or value < minimum:
            raise _bad(key, value, source, f"a finite {kind.__name__} >= {minimum}")
        return kind(value)
    return convert


def _as_str(key: str, value: Any, source: str) -> str:
    if not isinstance(value, str) or not value:
        raise _bad(key, value, source, "a non-empty string")
    return value


def _as_path(key: str, value: Any, source: str) -> Path:
    text = _as_str(key, value, source)
    if "\x00" in text:
        raise _bad(key, value, source, "a path without NUL characters")
    try:
        return Path(text).expanduser()
    except RuntimeError:  # "~user" for a user this machine does not know
        raise _bad(key, value, source, "a path whose '~user' exists on this machine") from None


def _as_strategy(key: str, value: Any, source: str) -> str:
    if not isinstance(value, str) or value not in STRATEGY_NAMES:
        raise _bad(key, value, source, "a strategy name", STRATEGY_NAMES)
    return value


def _as_order(key: str, value: Any, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value:
        raise _bad(key, value, source, "a non-empty list of strategy names", STRATEGY_NAMES)
    order = tuple(_as_strategy(key, v, source) for v in value)
    if "hybrid" in order:
        raise _bad(key, "hybrid", source, "strategies other than 'hybrid'", STRATEGY_NAMES)
    if len(set(order)) != len(order):
        raise _bad(key, value, source, "each strategy at most once", STRATEGY_NAMES)
    return order


def _as_endpoint(key: str, value: Any, source: str) -> str:
    text = _as_str(key, value, source)
    if not text.startswith(("http://", "https://")) or "@" in text.split("/")[2]:
        raise _bad(key, value, source, "an http(s) URL without credentials")
    return text.rstrip("/")


CONVERTERS: dict[str, Callable[[str, Any, str], Any]] = {
    "strategy": _as_strategy,
    "strategies": _as_order,
    "cache_dir": _as_path,
    "hf_cache_dir": _as_path,
    "local_dir": _as_path,
    "offline": _as_bool,
    "lock_timeout": _as_number(float, 0.0),
    "network.endpoint": _as_endpoint,
    "network.token": _as_str,
    "network.token_file": _as_path,
    "network.connect_timeout": _as_number(float, 0.001),
    "network.read_timeout": _as_number(float, 0.001),
    "network.max_retries": _as_number(int, 0),
    "network.max_concurrent_files": _as_number(int, 1),
    "network.max_file_bytes": _as_number(int, 1),
    "network.ca_bundle": _as_path,
    "network.trust_env": _as_bool,
    "network.user_agent": _as_str,
}


# -- loading -----------------------------------------------------------------------------------

def _flatten(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in TOP_KEYS:
            raise _unknown_key(key, TOP_KEYS, source)
        if key == "network":
            if not isinstance(value, Mapping):
                raise _bad("network", value, source, "a table of network settings")
            for sub, subvalue in value.items():
                if sub not in NETWORK_KEYS:
                    raise _unknown_key(f"network.{sub}", NETWORK_KEYS, source)
                flat[f"network.{sub}"] = subvalue
        else:
            flat[key] = value
    return flat


def read_config_file(path: Path) -> dict[str, Any]:
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
        value = environ.get(variable)
        if value and key not in layer:
            layer[key] = (value, f"environment variable {variable}")
    for variable in OFFLINE_VARIABLES:
        value = environ.get(variable)
        if value is not None and parse_bool(value) and "offline" not in layer:
            layer["offline"] = (True, f"environment variable {variable}")
    return layer


def hub_token_file(environ: Mapping[str, str]) -> Path:
    """Where ``hf auth login`` keeps the token: ``$HF_TOKEN_PATH`` or ``$HF_HOME/token``."""
    if environ.get("HF_TOKEN_PATH"):
        return Path(environ["HF_TOKEN_PATH"]).expanduser()
    home = environ.get("HF_HOME") or os.path.join(
        environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "huggingface")
    return Path(home).expanduser() / "token"


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
    sources = {key: source for key, (_, source) in layers.items()}
    return _assemble(values, sources, env, file_path)


def _assemble(values: dict[str, Any], sources: dict[str, str], env: Mapping[str, str],
              file_path: Path | None) -> Settings:
    strategy = values.get("strategy", "hybrid")
    offline = values.get("offline", False)
    offline_source = sources.get("offline", "offline") if offline else None
    if strategy in NETWORK_STRATEGIES and offline:
        raise ConfigurationError(
            f"strategy {strategy!r} ({sources.get('strategy', 'default')}) contradicts offline "
            f"mode ({offline_source})", key="strategy", value=strategy,
            source=sources.get("strategy"), choices=STRATEGY_NAMES,
            suggestions=["use strategy 'hybrid' or 'cache-only' while offline",
                         f"or turn offline mode off ({offline_source})"])
    token = values.get("network.token")
    if token is None and "network.token_file" in values:
        token = _read_token(values["network.token_file"], sources["network.token_file"])
        sources["network.token"] = sources["network.token_file"]
    if token is None:
        candidate = hub_token_file(env)
        if candidate.is_file():
            token = _read_token(candidate, f"Hub token file {candidate}") or None
            if token:
                sources["network.token"] = "Hub token file (HF_HOME)"
    network = NetworkOptions(
        endpoint=values.get("network.endpoint", DEFAULT_ENDPOINT),
        token=Secret(token) if token else None,
        connect_timeout=values.get("network.connect_timeout", 10.0),
        read_timeout=values.get("network.read_timeout", 30.0),
        max_retries=values.get("network.max_retries", 5),
        max_concurrent_files=values.get("network.max_concurrent_files", 4),
        max_file_bytes=values.get("network.max_file_bytes", 2 * 1024**3),
        ca_bundle=values.get("network.ca_bundle"),
        trust_env=values.get("network.trust_env", True),
        user_agent=values.get("network.user_agent"),
        offline_source=offline_source,
    )
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
    return Settings(
        strategy=strategy,
        strategies=values.get("strategies") or _default_order(hf_cache_dir),
        cache_dir=values.get("cache_dir") or default_cache_dir(),
        hf_cache_dir=hf_cache_dir,
        local_dir=local_dir,
        offline_source=offline_source,
        lock_timeout=values.get("lock_timeout", 600.0),
        network=network,
        sources=sources,
        config_file=file_path,
    )


def _default_order(hf_cache_dir: Path) -> tuple[str, ...]:
    if hf_cache_dir.is_dir():
        return ("cache-only", "hf-cache", "network")
    return DEFAULT_ORDER


def _read_token(path: Path, source: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, ValueError) as exc:  # ValueError: undecodable bytes
        reason = getattr(exc, "strerror", None) or exc.__class__.__name__
        raise ConfigurationError(f"token file unreadable ({reason})",
                                 key="network.token_file", value=str(path),
                                 source=source) from None
