"""MkDocs hook: the generated parts of the documentation, built from the code at build time.

- ``<!-- tokacq:settings -->`` (configuration.md): every setting key, the environment
  variables that set it (in precedence order), its default and its doc line, from the
  configuration table ``settings.SETTINGS`` and the option dataclasses' literal defaults.
  The README holds the same table; a test compares it.
- ``<!-- tokacq:cli -->`` (cli.md): ``--help`` of every ``tokacq`` command, from the
  argparse parser itself.
- ``<!-- tokacq:contracts -->`` (ARCHITECTURE.md): the import-linter contracts of
  ``pyproject.toml``.
- ``<!-- tokacq:api -->`` (api.md): one mkdocstrings block per name of
  ``tokenizer_acquisition.__all__``.

Nothing here imports mkdocs, so ``tests/unit/test_docs.py`` checks the generators in any
environment. A setting without a doc line fails the build, and the test.
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

def _rows() -> dict[str, Any]:
    from tokenizer_acquisition.settings import SETTINGS

    return {row.key: row for row in SETTINGS}


#: One line per setting key, and defaults the code computes, said in words: both from
#: ``settings.SETTINGS`` (kept under these names for the checks below).
DESCRIPTIONS: dict[str, str] = {key: row.doc for key, row in _rows().items()}
COMPUTED_DEFAULTS: dict[str, str] = {key: row.default for key, row in _rows().items()
                                     if row.default is not None}


def setting_keys() -> list[str]:
    """Every key a config file may hold, flattened (``network.endpoint``)."""
    return list(_rows())


def setting_variables(key: str) -> list[str]:
    """The environment variables that set ``key``, earlier ones winning."""
    return list(_rows()[key].documented_variables())


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
        raise KeyError(f"{key}: no literal default in {owner.__name__}; say it in words "
                       "(default=...) in its row of settings.SETTINGS")
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
    missing = sorted(k for k in keys if not DESCRIPTIONS.get(k))
    stale = sorted(DESCRIPTIONS.keys() - keys)
    if missing or stale:
        raise ValueError(f"settings.SETTINGS: no doc line for {missing}, "
                         f"for settings that no longer exist {stale}")


def settings_table() -> str:
    """The settings table of the docs site and of the README (between its
    ``<!-- tokacq:settings-table -->`` markers; ``tests/unit/test_docs.py`` compares)."""
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
