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
from .domain.environment import OFFLINE_VARIABLES, offline_source
from .domain.errors import ConfigurationError
from .domain.options import DEFAULT_LOCK_TIMEOUT, NetworkOptions, Secret, check_header_value
from .hf_locations import hf_cache_default, hub_token_file
from .settings_validation import (
    STRATEGY_NAMES,
    Converter,
    as_bool,
    as_choice,
    as_endpoint,
    as_header_value,
    as_number,
    as_order,
    as_path,
    as_s3_endpoint,
    as_s3_url,
    as_strategy,
    bad_value,
    unknown_key,
)

__all__ = ["NETWORK_STRATEGIES", "SETTINGS", "STRATEGY_NAMES", "Setting", "Settings",
           "default_cache_dir", "environment_setting", "hf_cache_default", "hub_token_file",
           "load_settings"]

NETWORK_STRATEGIES = frozenset({"network"})
#: The hybrid order when none is configured; ``local-dir`` joins it right after
#: ``cache-only`` when ``local_dir`` is configured, then ``hf-cache`` when a Hugging Face
#: cache exists on this machine.
DEFAULT_ORDER = ("cache-only", "network")
#: Settings holding a path: a relative one in a config file is relative to that file.
PATH_KEYS = frozenset({"cache_dir", "hf_cache_dir", "local_dir", "network.token_file",
                       "network.ca_bundle"})




@dataclass(frozen=True)
class Setting:
    """One row of the configuration table: everything the code and the docs know of a key.

    Validation (``CONVERTERS``), the environment layer (``ENVIRONMENT``), the known keys
    (``TOP_KEYS``, ``NETWORK_KEYS``, ``S3_KEYS``), ``tokacq info`` and the settings tables
    of the README and the docs site are all derived from ``SETTINGS``: a new setting is
    one row here, plus the field of the options class that holds its value.
    """

    #: ``cache_dir``, or ``network.endpoint`` for a key of the ``[network]`` table.
    key: str
    #: Checks and converts a raw value (TOML or environment string): the setting's type.
    convert: Converter
    #: One line for the documentation.
    doc: str
    #: Environment variables that set it, the first one set winning.
    variables: tuple[str, ...] = ()
    #: Variables read by a rule of their own (``offline``, ``hf_cache_dir``): documented only.
    ruled_by: tuple[str, ...] = ()
    #: The default in words, when the code computes it; None: the options field's literal.
    default: str | None = None
    #: What ``tokacq info`` shows, from the section's object (``Settings``,
    #: ``NetworkOptions`` or ``S3Options``); None: not shown.
    shown: Callable[[Any], Any] | None = None

    @property
    def section(self) -> str:
        """``""`` for a top-level key, else its table (``network``, ``s3``)."""
        return self.key.rpartition(".")[0]

    @property
    def name(self) -> str:
        return self.key.rpartition(".")[2]

    def documented_variables(self) -> tuple[str, ...]:
        return self.variables + self.ruled_by


def _path_text(path: Path | None) -> str | None:
    return None if path is None else str(path)


SETTINGS: tuple[Setting, ...] = (
    Setting("strategy", as_strategy, variables=("TOKACQ_STRATEGY",),
            doc="the strategy to build: `hybrid`, `cache-only`, `hf-cache`, `local-dir`, "
                "`network` or `s3`", shown=lambda s: s.strategy),
    Setting("strategies", as_order,
            doc="the hybrid order (a list, or a comma-separated string)",
            default="`cache-only`, `local-dir` if configured, `hf-cache` if present, "
                    "`s3` if configured, `network`", shown=lambda s: list(s.strategies)),
    Setting("cache_dir", as_path, variables=("TOKACQ_CACHE_DIR",),
            doc="the tokenizer cache (`<cache_dir>/<cache_key>/<file>`)",
            default="platformdirs' user cache directory of `tokenizer-acquisition` "
                    "(`~/.cache/tokenizer-acquisition` on Linux)",
            shown=lambda s: str(s.cache_dir)),
    Setting("hf_cache_dir", as_path, ruled_by=("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
                                                "HF_HOME"),
            doc="a `huggingface_hub` cache to reuse read-only (`hf-cache`); "
                "`HF_HOME` means `$HF_HOME/hub`",
            default="`~/.cache/huggingface/hub`", shown=lambda s: str(s.hf_cache_dir)),
    Setting("local_dir", as_path, variables=("TOKACQ_LOCAL_DIR",),
            doc="a directory of `<org>/<name>/<file>` (`local-dir`)",
            shown=lambda s: _path_text(s.local_dir)),
    Setting("offline", as_bool, ruled_by=OFFLINE_VARIABLES,
            doc="never use the network (nor the bucket); the first variable set decides "
                "(1/true/yes/on or 0/false/no/off; anything else is an error)",
            default="`false`", shown=lambda s: s.offline),
    Setting("lock_timeout", as_number(float, 0.0), variables=("TOKACQ_LOCK_TIMEOUT",),
            doc="seconds to wait for another process downloading the same key",
            shown=lambda s: s.lock_timeout),
    Setting("network.endpoint", as_endpoint, variables=("TOKACQ_ENDPOINT", "HF_ENDPOINT"),
            doc="the Hub or a mirror (`http`/`https`, no credentials)",
            shown=lambda n: n.endpoint),
    Setting("network.token", as_header_value, variables=("TOKACQ_TOKEN", "HF_TOKEN"),
            doc="the Hub token (`HF_TOKEN` is ignored under "
                "`HF_HUB_DISABLE_IMPLICIT_TOKEN=1`)",
            default="the Hub login token (`$HF_TOKEN_PATH` or `$HF_HOME/token`), unless "
                    "`HF_HUB_DISABLE_IMPLICIT_TOKEN=1`",
            shown=lambda n: "set" if n.token else "not set"),
    Setting("network.token_file", as_path,
            doc="a file holding the token (`/run/secrets/hf_token`)", default="none"),
    # huggingface_hub's names: HEAD/metadata timeout and download (between bytes) timeout
    Setting("network.connect_timeout", as_number(float, 0.001),
            variables=("HF_HUB_ETAG_TIMEOUT",),
            doc="seconds to connect and get response headers",
            shown=lambda n: n.connect_timeout),
    Setting("network.read_timeout", as_number(float, 0.001),
            variables=("HF_HUB_DOWNLOAD_TIMEOUT",),
            doc="seconds between two reads of a body", shown=lambda n: n.read_timeout),
    Setting("network.max_retries", as_number(int, 0),
            doc="attempts without progress before a transfer fails",
            shown=lambda n: n.max_retries),
    Setting("network.max_concurrent_files", as_number(int, 1),
            doc="files of one set downloaded at once", shown=lambda n: n.max_concurrent_files),
    Setting("network.max_file_bytes", as_number(int, 1), doc="the largest file accepted",
            shown=lambda n: n.max_file_bytes),
    # OpenSSL's (honoured by httpx, hence huggingface_hub), then requests'
    Setting("network.ca_bundle", as_path, variables=("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"),
            doc="a PEM bundle to trust instead of the system store",
            shown=lambda n: _path_text(n.ca_bundle)),
    Setting("network.trust_env", as_bool,
            doc="use `HTTPS_PROXY`, `NO_PROXY`, ... and `.netrc`", shown=lambda n: n.trust_env),
    Setting("network.user_agent", as_header_value,
            doc="appended to the `User-Agent` header",
            default="none (`tokenizer-acquisition/<version>` is always sent)",
            shown=lambda n: n.user_agent),
    Setting("s3.url", as_s3_url, variables=("TOKACQ_S3_URL",),
            doc="the shared bucket and prefix (`s3://bucket/prefix`); enables `s3`",
            default="none (`s3` not configured)", shown=lambda o: o.location),
    Setting("s3.endpoint_url", as_s3_endpoint,
            variables=("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
            doc="an S3-compatible endpoint (SeaweedFS, MinIO); none means AWS",
            default="none (AWS)", shown=lambda o: o.endpoint_url),
    Setting("s3.region", as_header_value, variables=("AWS_REGION", "AWS_DEFAULT_REGION"),
            doc="the signing region", default="the AWS profile's, else `us-east-1`",
            shown=lambda o: o.region),
    Setting("s3.addressing_style", as_choice("auto", "path", "virtual"),
            doc="`auto` (virtual-hosted on AWS, path-style with an endpoint), `path` or "
                "`virtual`", shown=lambda o: o.addressing_style),
    Setting("s3.write_through", as_bool,
            doc="upload what this pod fetched from the Hub for the fleet",
            shown=lambda o: o.write_through),
    Setting("s3.lease_ttl", as_number(float, 0.0),
            doc="seconds before a silent leader's lease is taken over",
            shown=lambda o: o.lease_ttl),
)

#: Sections (tables of a config file), in order.
SECTIONS = ("network", "s3")
TOP_KEYS = (*(s.key for s in SETTINGS if not s.section), *SECTIONS)
NETWORK_KEYS = tuple(s.name for s in SETTINGS if s.section == "network")
S3_KEYS = tuple(s.name for s in SETTINGS if s.section == "s3")
CONVERTERS: dict[str, Converter] = {s.key: s.convert for s in SETTINGS}
# (environment variable, setting key); earlier variables win over later ones.
ENVIRONMENT = tuple((variable, s.key) for s in SETTINGS for variable in s.variables)


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
