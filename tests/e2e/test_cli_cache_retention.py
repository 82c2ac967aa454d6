"""``tokacq cache list --sort/--filter`` with last access, ``cache prune --older-than /
--keep-size`` with ``--dry-run`` and ``--yes``, and ``-q``: every command quiet but for
its requested output (and errors)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import KEY, REPO, Cli
from e2e.test_cli_cache import publish

pytestmark = pytest.mark.timeout(120)
DAY = 86400


def read_at(cache: Path, key: str, when: float) -> None:
    """As if an application read the key's files at ``when`` (their atime)."""
    target = (cache / key).resolve()
    for path in target.rglob("*"):
        if path.is_file():
            os.utime(path, (when, os.stat(path).st_mtime))


@pytest.fixture
def three(cli: Cli) -> Cli:
    publish(cli.cache, "org--big", {"tokenizer.json": b"b" * 5000})
    publish(cli.cache, "org--small", {"tokenizer.json": b"s" * 100})
    publish(cli.cache, "other--mid", {"tokenizer.json": b"m" * 1000})
    now = time.time()
    read_at(cli.cache, "org--small", now + 10)
    read_at(cli.cache, "org--big", now + 20)
    read_at(cli.cache, "other--mid", now + 30)
    return cli


def keys_of(run: Any) -> list[str]:
    return [line.split()[0] for line in run.out.splitlines()[1:]
            if line and not line.startswith("problem:")]


def test_list_sorts_filters_and_shows_last_access(three: Cli) -> None:
    table = three("cache", "list")
    assert table.code == 0 and "ACCESSED" in table.out.splitlines()[0]
    assert keys_of(table) == ["org--big", "org--small", "other--mid"]
    assert keys_of(three("cache", "list", "--sort", "size")) == [
        "org--big", "other--mid", "org--small"]
    assert keys_of(three("cache", "list", "--sort", "accessed")) == [
        "org--small", "org--big", "other--mid"]
    assert keys_of(three("cache", "list", "--filter", "org--*")) == ["org--big", "org--small"]
    assert keys_of(three("cache", "list", "--filter", "org/name")) == [
        "org--big", "org--small", "other--mid"]  # the repo matches too
    doc = three("cache", "list", "--json", "--sort", "accessed", "--filter", "*mid").json()
    assert [k["key"] for k in doc["keys"]] == ["other--mid"]
    assert doc["keys"][0]["accessed_from"] == "atime" and doc["keys"][0]["accessed_at"]
    none = three("cache", "list", "--filter", "nothing*")
    assert none.code == 0 and none.out == "" and "no key matching" in none.err
    assert "accessed:" in three("cache", "list", "org--big").out
    assert "atime" in three("cache", "list", "--help").out  # the measure is stated
    assert three("cache", "list", "--sort", "age").code == 2


def test_prune_older_than_asks_dry_runs_and_removes(three: Cli) -> None:
    # org--small was read (atime) before it was created: its access is its creation, the
    # oldest of the three; the others were read "later" (the fixture's future atimes).
    read_at(three.cache, "org--small", time.time() - 40 * DAY)
    refused = three("cache", "prune", "--older-than", "30d")
    assert refused.code == 2 and "--yes" in refused.err  # not a terminal: --yes needed
    assert three("cache", "prune", "--older-than", "30d", "-y", "--json").json()["keys"] == []
    time.sleep(1.1)
    plan = three("cache", "prune", "--older-than", "1s", "-n")
    assert plan.code == 0 and "would remove org--small" in plan.out
    assert "org--big" not in plan.out and (three.cache / "org--small").exists()
    done = three("cache", "prune", "--older-than", "1s", "-y", "--json").json()
    assert done["keys"] == ["org--small"] and not (three.cache / "org--small").exists()
    assert keys_of(three("cache", "list")) == ["org--big", "other--mid"]


def test_prune_keep_size_removes_least_recently_used_first(three: Cli) -> None:
    # Manifests count too: what is left is other--mid's 1000 bytes and its manifest.
    plan = three("cache", "prune", "--keep-size", "2.5kB", "--dry-run", "--json").json()
    assert plan["keys"] == ["org--small", "org--big"] and plan["fits"] is True
    assert plan["size_before"] >= 6100
    run = three("cache", "prune", "--keep-size", "2.5kB", "--yes")
    assert run.code == 0 and "limit 2.5 kB" in run.err
    assert keys_of(three("cache", "list")) == ["other--mid"]


@pytest.mark.parametrize(("args", "needle", "kind"), [
    (("--older-than", "30"), "not a duration", "ConfigurationError"),
    (("--older-than", "3y"), "not a duration", "ConfigurationError"),
    (("--keep-size", "10XB"), "not a size", "ConfigurationError"),
    (("--older-than", "1d", "--include-unmanaged"), "only managed keys", "ConfigurationError"),
    (("--keep-size", "10GB", "--all"), "--all: not allowed with", "UsageError"),
    (("--older-than", "1d", "org--big"), "KEY: not allowed with", "UsageError"),
    ((), "one of the arguments KEY --all --partials --older-than", "UsageError"),
])
def test_bad_prune_filters_are_typed_errors(three: Cli, args: tuple[str, ...],
                                             needle: str, kind: str) -> None:
    run = three("cache", "prune", *args, "-y", "--json")
    assert run.code == 2 and needle in run.err, run.err
    assert run.json()["error"]["type"] == kind
    assert "Traceback" not in run.err
    assert (three.cache / "org--big").exists()


def test_quiet_leaves_only_the_requested_output(online: Cli, tmp_path: Path) -> None:
    """-q: stderr empty for every command that succeeds; stdout has what was asked for."""
    lock = tmp_path / "tokenizers.lock"
    commands: list[tuple[str, ...]] = [
        ("fetch", REPO),
        ("fetch", REPO),  # a hit
        ("fetch", REPO, "--dry-run"),
        ("fetch", REPO, "--local-dir", str(tmp_path / "out")),
        ("fetch", REPO, "--local-dir", str(tmp_path / "out")),  # replaces: said without -q
        ("ls", REPO),
        ("lock", REPO, "-o", str(lock)),
        ("fetch", "--lock", str(lock)),
        ("info",),
        ("cache", "list"),
        ("cache", "list", "--filter", "nothing*"),
        ("cache", "list", KEY),
        ("cache", "verify"),
        ("cache", "path", KEY),
        ("cache", "prune", "--partials"),
        ("cache", "prune", "--keep-size", "1GB", "-y"),
        ("cache", "prune", "--older-than", "30d", "-n"),
        ("completion", "bash"),
        ("demo",),
        ("cache", "prune", KEY, "-n"),
        ("cache", "prune", "--all", "-y"),
    ]
    for command in commands:
        run = online(*command, "-q")
        assert run.code == 0, (command, run.err)
        assert run.err == "", (command, run.err)
    assert online("cache", "list", "-q").out == ""  # an empty cache: nothing was asked
    failed = online("cache", "path", "nope", "-q")
    assert failed.code == 3 and failed.err.startswith("tokacq: error:")  # errors still show
