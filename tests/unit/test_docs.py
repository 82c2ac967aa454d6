"""The documentation's generated parts are current and complete (nothing is built here;
``tests/e2e/test_docs_build.py`` and CI run ``mkdocs build --strict``).

The generators live in ``docs/hooks/tokacq_docs.py`` and run at every build, so the site
cannot drift from the code; these tests fail when the code grows something the docs do
not cover (a setting without a description, an exit code without a row, a page not in
the navigation)."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

import tokenizer_acquisition
from tokenizer_acquisition import settings
from tokenizer_acquisition.domain.environment import OFFLINE_VARIABLES
from tokenizer_acquisition.domain.options import NetworkOptions
from tokenizer_acquisition.entrypoints.exit_codes import ExitCode

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tokacq_docs",
                                                  DOCS / "hooks" / "tokacq_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_page_is_in_the_navigation_and_exists() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    nav = re.findall(r"^  - [^:]+: (\S+\.md)$", config, flags=re.M)
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.glob("*.md")}
    assert set(nav) == pages
    assert "RELIABILITY.md" in nav
    assert "--strict" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize(("page", "marker"), [
    ("configuration.md", "<!-- tokacq:settings -->"), ("cli.md", "<!-- tokacq:cli -->"),
    ("ARCHITECTURE.md", "<!-- tokacq:contracts -->"), ("api.md", "<!-- tokacq:api -->"),
    ("errors.md", "<!-- tokacq:exit-codes -->"),
])
def test_generated_parts_are_placed_and_rendered(hooks: ModuleType, page: str,
                                                 marker: str) -> None:
    text = (DOCS / page).read_text()
    assert marker in text and marker in hooks.GENERATORS
    assert "<!-- tokacq:" not in hooks.render(text)


def test_settings_table_covers_every_key_variable_and_default(hooks: ModuleType) -> None:
    hooks.check_descriptions()  # a key without a description, or a stale one, fails
    table = hooks.settings_table()
    rows = {line.split("|")[1].strip().strip("`"): line for line in table.splitlines()[2:]}
    keys = [k for k in settings.TOP_KEYS if k not in ("network", "s3")]
    keys += [f"network.{k}" for k in settings.NETWORK_KEYS]
    keys += [f"s3.{k}" for k in settings.S3_KEYS]
    assert list(rows) == keys
    for variable, key in settings.ENVIRONMENT:
        assert f"`{variable}`" in rows[key].split("|")[2], (variable, key)
    for variable in OFFLINE_VARIABLES:
        assert f"`{variable}`" in rows["offline"]
    defaults = NetworkOptions()
    for field in dataclasses.fields(NetworkOptions):
        key = f"network.{field.name}"
        if key in rows and field.default not in (None, dataclasses.MISSING) \
                and key not in hooks.COMPUTED_DEFAULTS:
            value = getattr(defaults, field.name)
            shown = str(value).lower() if isinstance(value, bool) else f"{value:g}" \
                if isinstance(value, float) else str(value)
            assert f"`{shown}`" in rows[key].split("|")[3], key
    assert "`hybrid`" in rows["strategy"] and "`600`" in rows["lock_timeout"]


def test_cli_reference_has_every_command(hooks: ModuleType) -> None:
    reference = hooks.cli_reference()
    names = [name for name, _ in hooks.commands()]
    for name in names:
        assert f"`{name}`" in reference
    for expected in ("tokacq fetch", "tokacq cache list", "tokacq cache prune",
                     "tokacq completion"):
        assert expected in names
    for option in ("--older-than", "--keep-size", "--sort", "--filter", "atime"):
        assert option in reference


def test_api_reference_is_the_public_surface(hooks: ModuleType) -> None:
    blocks = re.findall(r"^::: tokenizer_acquisition\.(\w+)$", hooks.api_blocks(), flags=re.M)
    assert sorted(blocks) == sorted(n for n in tokenizer_acquisition.__all__
                                    if not n.startswith("_"))


def test_exit_codes_and_contracts(hooks: ModuleType) -> None:
    table = hooks.exit_codes_table()
    for code in ExitCode:
        assert f"| {int(code)} | `{code.name}` |" in table
    contracts = hooks.contracts_list()
    assert contracts.count("- **") == (ROOT / "pyproject.toml").read_text().count(
        "[[tool.importlinter.contracts]]")


def test_readme_settings_table_is_the_code_s(hooks: ModuleType) -> None:
    """The README's configuration table is ``settings.SETTINGS`` rendered (issue 13): a
    setting added, renamed or documented differently in the code fails here."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- tokacq:settings-table .*?-->\n\n(.*?)\n\n"
                      r"<!-- /tokacq:settings-table -->", readme, flags=re.S)
    assert found is not None, "README.md has lost its settings-table markers"
    assert found.group(1) == hooks.settings_table()


def test_info_shows_the_table_s_settings() -> None:
    """``tokacq info`` lists the rows of ``settings.SETTINGS`` it shows, in table order."""
    from tokenizer_acquisition.entrypoints.cli_info import _settings

    loaded = settings.load_settings({"s3": {"url": "s3://bucket/prefix"}}, environ={})
    shown = [row["key"] for row in _settings(loaded)]
    assert shown == [row.key for row in settings.SETTINGS if row.shown is not None]
    assert "network.token_file" not in shown  # the token's source is shown, never its file
