"""MkDocs hook: the generated parts of the documentation, built from the code at build time.

- ``<!-- tokacq:settings -->`` (configuration.md): every setting key, the environment
  variables that set it (in precedence order) and its default, from ``settings.py``
  (``TOP_KEYS``, ``NETWORK_KEYS``, ``S3_KEYS``, ``ENVIRONMENT``) and the option
  dataclasses' defaults; only the one-line descriptions below are prose.
- ``<!-- tokacq:cli -->`` (cli.md): ``--help`` of every ``tokacq`` command, from the
  argparse parser itself.
- ``<!-- tokacq:contracts -->`` (architecture.md): the import-linter contracts of
  ``pyproject.toml``.
- ``<!-- tokacq:api -->`` (api.md): one mkdocstrings block per name of
  ``tokenizer_acquisition.__all__``.

Nothing here imports mkdocs, so ``tests/unit/test_docs.py`` checks the generators in any
environment. A setting without a description (or a description of a setting that no
longer exists) fails the build, and the test.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

#: One line per setting key; the rest of each row is generated.
DESCRIPTIONS: dict[str, str] = {
    "strategy": "the strategy to build: `hybrid`, `cache-only`, `hf-cache`, `local-dir`, "
                "`network` or `s3`",
    "strategies": "the hybrid order (a list, or a comma-separated string)",
    "cache_dir": "the tokenizer cache (`<cache_dir>/<cache_key>/<file>`)",
    "hf_cache_dir": "a `huggingface_hub` cache to reuse read-only (`hf-cache`); "
                    "`HF_HOME` means `$HF_HOME/hub`",
    "local_dir": "a directory of `<org>/<name>/<file>` (`local-dir`)",
    "offline": "never use the network (nor the bucket); the first variable set decides "
               "(1/true/yes/on or 0/false/no/off; anything else is an error)",
    "lock_timeout": "seconds to wait for another process downloading the same key",
    "network.endpoint": "the Hub or a mirror (`http`/`https`, no credentials)",
    "network.token": "the Hub token (`HF_TOKEN` is ignored under "
                     "`HF_HUB_DISABLE_IMPLICIT_TOKEN=1`)",
    "network.token_file": "a file holding the token (`/run/secrets/hf_token`)",
    "network.connect_timeout": "seconds to connect and get response headers",
    "network.read_timeout": "seconds between two reads of a body",
    "network.max_retries": "attempts without progress before a transfer fails",
    "network.max_concurrent_files": "files of one set downloaded at once",
    "network.max_file_bytes": "the largest file accepted",
    "network.ca_bundle": "a PEM bundle to trust instead of the system store",
    "network.trust_env": "use `HTTPS_PROXY`, `NO_PROXY`, ... and `.netrc`",
    "network.user_agent": "appended to the `User-Agent` header",
    "s3.url": "the shared bucket and prefix (`s3://bucket/prefix`); enables `s3`",
    "s3.endpoint_url": "an S3-compatible endpoint (SeaweedFS, MinIO); none means AWS",
    "s3.region": "the signing region",
    "s3.addressing_style": "`auto`, `path` or `virtual`",
    "s3.write_through": "upload what this pod fetched from the Hub for the fleet",
    "s3.lease_ttl": "seconds before a silent leader's lease is taken over",
}

#: Defaults computed at run time (no literal in a dataclass field), said in words.
COMPUTED_DEFAULTS: dict[str, str] = {
    "strategies": "`cache-only`, `local-dir` if configured, `hf-cache` if present, "
                  "`s3` if configured, `network`",
    "cache_dir": "platformdirs' user cache directory of `tokenizer-acquisition` "
                 "(`~/.cache/tokenizer-acquisition` on Linux)",
    "hf_cache_dir": "`~/.cache/huggingface/hub`",
    "offline": "`false`",
    "network.token": "the Hub login token (`$HF_TOKEN_PATH` or `$HF_HOME/token`), unless "
                     "`HF_HUB_DISABLE_IMPLICIT_TOKEN=1`",
    "network.token_file": "none",
    "network.user_agent": "none (`tokenizer-acquisition/<version>` is always sent)",
    "s3.url": "none (`s3` not configured)",
    "s3.endpoint_url": "none (AWS)",
    "s3.region": "the AWS profile's, else `us-east-1`",
}


def setting_keys() -> list[str]:
    """Every key a config file may hold, flattened (``network.endpoint``)."""
    from tokenizer_acquisition import settings

    keys = [k for k in settings.TOP_KEYS if k not in ("network", "s3")]
    keys += [f"network.{k}" for k in settings.NETWORK_KEYS]
    keys += [f"s3.{k}" for k in settings.S3_KEYS]
    return keys


def setting_variables(key: str) -> list[str]:
    """The environment variables that set ``key``, earlier ones winning."""
    from tokenizer_acquisition import settings
    from tokenizer_acquisition.domain.environment import OFFLINE_VARIABLES

    if key == "offline":
        return list(OFFLINE_VARIABLES)
    if key == "hf_cache_dir":  # huggingface_hub's own rule (hf_locations.hf_cache_default)
        return ["HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME"]
    return [variable for variable, name in settings.ENVIRONMENT if name == key]


def setting_default(key: str) -> str:
    """The default as the code defines it (a dataclass field's literal default)."""
    from tokenizer_acquisition.domain.bucket_layout import S3Options
    from tokenizer_acquisition.domain.options import NetworkOptions
    from tokenizer_acquisition.settings import Settings

    if key in COMPUTED_DEFAULTS:
        return COMPUTED_DEFAULTS[key]
    section, _, name = key.rpartition(".")
    owner = {"": Settings, "network": NetworkOptions, "s3": S3Options}[section]
    fields = {f.name: f for f in dataclasses.fields(owner)}
    if name not in fields or fields[name].default is dataclasses.MISSING:
        raise KeyError(f"{key}: no literal default in {owner.__name__}; say it in "
                       "COMPUTED_DEFAULTS of docs/hooks/tokacq_docs.py")
    value = fields[name].default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if key == "network.max_file_bytes" and isinstance(value, int):
        return f"`{value}` ({value / 1024**3:g} GiB)"
    if isinstance(value, float) and value.is_integer():
        return f"`{value:g}`"
    return f"`{value}`"


def check_descriptions() -> None:
    keys = set(setting_keys())
    missing = sorted(keys - DESCRIPTIONS.keys())
    stale = sorted(DESCRIPTIONS.keys() - keys)
    if missing or stale:
        raise ValueError(f"docs/hooks/tokacq_docs.py DESCRIPTIONS: missing {missing}, "
                         f"for settings that no longer exist {stale}")


def settings_table() -> str:
    check_descriptions()
    rows = ["| key | environment (first set wins) | default | what it is |",
            "| --- | --- | --- | --- |"]
    for key in setting_keys():
        variables = ", ".join(f"`{v}`" for v in setting_variables(key)) or "-"
        rows.append(f"| `{key}` | {variables} | {setting_default(key)} | "
                    f"{DESCRIPTIONS[key]} |")
    return "\n".join(rows)


# -- the command line ----------------------------------------------------------------------

def commands() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """``("tokacq", parser)``, then every subcommand's parser, depth first."""
    from tokenizer_acquisition.entrypoints.cli import build_parser

    def walk(name: str, parser: argparse.ArgumentParser
             ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, subparser in action.choices.items():
                    yield from walk(f"{name} {sub}", subparser)

    yield from walk("tokacq", build_parser())


@contextlib.contextmanager
def _columns(width: int) -> Iterator[None]:
    """argparse wraps help to $COLUMNS: a fixed width, whatever terminal builds the docs."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved


def cli_reference() -> str:
    parts = []
    with _columns(88):
        for name, parser in commands():
            parser.prog = name
            level = "##" if name.count(" ") <= 1 else "###"
            parts.append(f"{level} `{name}`\n\n```text\n{parser.format_help().rstrip()}\n```")
    return "\n\n".join(parts)


# -- architecture and API ------------------------------------------------------------------

def contracts_list() -> str:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        config = tomllib.load(handle)["tool"]["importlinter"]
    root = config["root_package"]

    def short(module: str) -> str:
        return "`" + module.removeprefix(root + ".") + "`"

    def shorts(modules: list[str]) -> str:
        return ", ".join(short(m) for m in modules)

    lines = []
    for contract in config["contracts"]:
        kind = contract["type"]
        if kind == "forbidden":
            rule = (f"{shorts(contract['source_modules'])} may not import "
                    f"{shorts(contract['forbidden_modules'])}.")
        elif kind == "layers":
            layers = " > ".join("`" + layer.replace(" | ", "` | `") + "`"
                                for layer in contract["layers"])
            rule = (f"from top to bottom, {layers}; a layer imports only the layers below "
                    "it, and the names of one layer (`|`) do not import each other.")
        elif kind == "independence":
            rule = f"{shorts(contract['modules'])} do not import one another."
        elif kind == "acyclic_siblings":
            rule = (f"under {shorts(contract['ancestors'])}, the modules of each package "
                    "import each other without a cycle.")
        else:
            raise ValueError(f"pyproject.toml: no description of a {kind!r} contract")
        lines.append(f"- **{contract['name']}** ({kind}): {rule}")
    return "\n".join(lines)


def api_blocks() -> str:
    import tokenizer_acquisition

    return "\n\n".join(f"::: tokenizer_acquisition.{name}"
                       for name in sorted(tokenizer_acquisition.__all__)
                       if not name.startswith("_"))


def exit_codes_table() -> str:
    """The table of ``entrypoints/exit_codes.py``'s docstring, as Markdown; every
    ``ExitCode`` member must have its row."""
    import re

    from tokenizer_acquisition.entrypoints import exit_codes

    doc = exit_codes.__doc__ or ""
    lines = doc.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("====")]
    rows: list[list[str]] = []
    for line in lines[rules[1] + 1:rules[2]]:
        if line[:1].isdigit():
            code, name, when = line.split(None, 2)
            rows.append([code, name, when])
        elif rows and line.strip():
            rows[-1][2] += " " + line.strip()
    named = {row[1] for row in rows}
    missing = [m.name for m in exit_codes.ExitCode if m.name not in named]
    if missing:
        raise ValueError(f"exit_codes.py's docstring table has no row for {missing}")
    out = ["| code | name | when |", "| --- | --- | --- |"]
    for code, name, when in rows:
        when = re.sub(r"``(.+?)``", r"`\1`", when).replace("|", "\\|")
        out.append(f"| {code} | `{name}` | {when} |")
    tail = "\n".join(lines[rules[2] + 1:]).strip()
    return "\n".join(out) + "\n\n" + re.sub(r"``(.+?)``", r"`\1`", tail)


GENERATORS = {
    "<!-- tokacq:exit-codes -->": exit_codes_table,
    "<!-- tokacq:settings -->": settings_table,
    "<!-- tokacq:cli -->": cli_reference,
    "<!-- tokacq:contracts -->": contracts_list,
    "<!-- tokacq:api -->": api_blocks,
}


def render(markdown: str) -> str:
    """``markdown`` with every marker replaced by what its generator makes now."""
    for marker, generate in GENERATORS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown


try:  # only while MkDocs builds: the generators above need no MkDocs
    from mkdocs.plugins import event_priority
except ImportError:  # pragma: no cover
    def event_priority(priority: float) -> Any:
        return lambda function: function


@event_priority(100)  # before mkdocstrings sets up its handlers
def on_config(config: Any, **kwargs: Any) -> Any:  # the MkDocs hook
    """Let mkdocstrings (griffe) find the package's sources: they live in ``src/``,
    installed under another name (an editable install's import hook griffe cannot
    follow), so a temporary directory holds ``tokenizer_acquisition -> src``, and
    mkdocstrings' python handler searches it first."""
    import atexit
    import shutil
    import tempfile

    if getattr(on_config, "done", False):
        return config
    on_config.done = True  # type: ignore[attr-defined]
    top = tempfile.mkdtemp(prefix="tokacq-docs-")
    atexit.register(shutil.rmtree, top, True)
    os.symlink(ROOT / "src", os.path.join(top, "tokenizer_acquisition"))
    handler = config["plugins"]["mkdocstrings"].config.handlers.setdefault("python", {})
    handler["paths"] = [top, *handler.get("paths", [])]
    return config


def on_page_markdown(markdown: str, **kwargs: Any) -> str:  # the MkDocs hook
    return render(markdown)
