"""``tokacq fetch`` discovery flags and ``tokacq ls``, end to end (issue 11).

The installed ``tokacq`` against a Hub simulator serving three repo shapes (BERT, Llama
with weights and an ``onnx/`` export, GPT-2): ``--include/--exclude``, ``--endpoint``,
``--token-file``, ``--token -``, ``--max-workers``, ``--dry-run``, ``--local-dir``,
``--refresh`` and ``ls``.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import TOKACQ, Cli
from support.repo_shapes import (
    EXPECTED,
    GPT2_REPO,
    LLAMA_REPO,
    WEIGHTS,
    add_shapes,
    llama_files,
)
from support.seeding import current_snapshot

pytestmark = pytest.mark.timeout(90)

LLAMA_KEY = "tiny-org--tiny-llama"
PRIVATE = "tiny-org/private-tokenizer"
STDIN_TOKEN = "hf_CliStdinToken0123456789abcd"
FILE_TOKEN = "hf_CliTokenFile0123456789abcd"
DEAD = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def shapes() -> Iterator[Any]:
    """A simulator of its own (latency and moving branches stay in this module)."""
    from tokenizer_acquisition.testing import HubSimulator, ThreadedHubSimulator

    sim = HubSimulator()
    add_shapes(sim)
    sim.add_repo(PRIVATE, {"vocab.txt": b"[PAD]\n[UNK]\nhello\n"}, private=True)
    sim.add_token(STDIN_TOKEN)
    sim.add_token(FILE_TOKEN)
    with ThreadedHubSimulator(sim) as running:
        yield running


@pytest.fixture
def net(cli: Cli, shapes: Any) -> Cli:
    config = cli.cache.parent / "tokacq.toml"
    config.write_text("[network]\nmax_retries = 0\nconnect_timeout = 2.0\n")
    cli.env.update(HF_ENDPOINT=shapes.endpoint, TOKACQ_CONFIG=str(config))
    return cli


def tree(root: Path) -> dict[str, tuple[bool, int, int]] | None:
    """Every path under ``root`` with kind, size and mtime (None: ``root`` is absent)."""
    if not root.exists():
        return None
    out = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        out[str(path.relative_to(root))] = (path.is_dir(), info.st_size, info.st_mtime_ns)
    return out


def file_requests(requests: list[Any]) -> list[str]:
    return [r.path for r in requests if "/api/" not in r.path]


# -- include / exclude -----------------------------------------------------------------------

def test_include_adds_and_exclude_removes_from_the_preset(net: Cli, shapes: Any) -> None:
    """--include onnx/ adds the export folder, --exclude drops its weights and a preset
    file; no weights file is ever requested."""
    seen = len(shapes.requests)
    run = net("fetch", LLAMA_REPO, "--include", "onnx/", "--exclude", "*.onnx",
              "--exclude", "generation_config.json", "--json")
    assert run.code == 0, run.err
    files = set(run.json()["files"])
    assert files == (EXPECTED[LLAMA_REPO] - {"generation_config.json"}) | {
        "onnx/tokenizer.json"}
    fetched = file_requests(shapes.requests[seen:])
    assert not [p for p in fetched if any(w.split("/")[-1] in p for w in WEIGHTS)]
    assert (net.cache / LLAMA_KEY / "onnx" / "tokenizer.json").is_file()


def test_exclude_never_drops_an_explicit_file_and_bad_patterns_are_usage_errors(
        net: Cli) -> None:
    """-f names a required file, whatever --exclude says; an empty pattern exits 2."""
    run = net("fetch", GPT2_REPO, "-f", "vocab.json", "--exclude", "*.json",
              "--include", "merges.txt", "--json")
    assert run.code == 0, run.err
    assert set(run.json()["files"]) == {"vocab.json", "merges.txt"}
    bad = net("fetch", GPT2_REPO, "--include", "")
    assert bad.code == 2 and "include" in bad.err


# -- endpoint and token ----------------------------------------------------------------------

def test_endpoint_flag_overrides_the_environment(net: Cli, shapes: Any) -> None:
    """HF_ENDPOINT points at a dead port; --endpoint wins, for fetch and ls."""
    seen = len(shapes.requests)
    run = net("fetch", GPT2_REPO, "--endpoint", shapes.endpoint, "--json", HF_ENDPOINT=DEAD)
    assert run.code == 0, run.err
    assert set(run.json()["files"]) == EXPECTED[GPT2_REPO]
    assert len(shapes.requests) > seen
    listed = net("ls", GPT2_REPO, "--endpoint", shapes.endpoint, HF_ENDPOINT=DEAD)
    assert listed.code == 0, listed.err
    dead = net("fetch", GPT2_REPO, "--endpoint", DEAD, "--cache-key", "elsewhere")
    assert dead.code == 5 and "NetworkError" in dead.err


def test_token_file_reaches_a_private_repo(net: Cli, shapes: Any, tmp_path: Path) -> None:
    """Without a token a private repo is not found (exit 3); --token-file reads it from a
    file and every request to the Hub carries it."""
    denied = net("fetch", PRIVATE)
    assert denied.code == 3 and "RepositoryNotFound" in denied.err
    token_file = tmp_path / "token"
    token_file.write_text(FILE_TOKEN + "\n")
    token_file.chmod(0o600)
    seen = len(shapes.requests)
    run = net("fetch", PRIVATE, "--token-file", str(token_file), "--json")
    assert run.code == 0, run.err
    assert set(run.json()["files"]) == {"vocab.txt"}
    hub_requests = [r for r in shapes.requests[seen:] if r.listener == "hub"]
    assert hub_requests and all(r.token_valid for r in hub_requests)


def test_token_dash_reads_the_token_from_stdin(net: Cli, shapes: Any) -> None:
    """--token - reads one line of stdin; the token is never printed."""
    seen = len(shapes.requests)
    run = net("fetch", PRIVATE, "--token", "-", "--json", "--cache-key", "from-stdin",
              stdin=STDIN_TOKEN + "\n")
    assert run.code == 0, run.err
    hub_requests = [r for r in shapes.requests[seen:] if r.listener == "hub"]
    assert hub_requests and all(r.token_valid for r in hub_requests)
    listed = net("ls", PRIVATE, "--token", "-", stdin=STDIN_TOKEN + "\n")
    assert listed.code == 0 and "vocab.txt" in listed.out


@pytest.mark.parametrize("form", [("--token", STDIN_TOKEN), (f"--token={STDIN_TOKEN}",)],
                         ids=["separate", "equals"])
def test_a_token_value_on_the_command_line_is_refused(net: Cli, shapes: Any,
                                                      form: tuple[str, ...]) -> None:
    """Any --token other than '-' exits 2 before a request is made, and the error does
    not repeat the value (the Cli helper fails the test if it is printed)."""
    seen = len(shapes.requests)
    run = net("fetch", PRIVATE, *form)
    assert run.code == 2 and "--token -" in run.err and "--token-file" in run.err
    assert len(shapes.requests) == seen


def test_token_dash_needs_a_token_and_excludes_token_file(net: Cli, tmp_path: Path) -> None:
    empty = net("fetch", PRIVATE, "--token", "-", stdin="")
    assert empty.code == 2 and "no token on stdin" in empty.err
    token_file = tmp_path / "token"
    token_file.write_text(FILE_TOKEN)
    both = net("fetch", PRIVATE, "--token", "-", "--token-file", str(token_file),
               stdin=STDIN_TOKEN)
    assert both.code == 2 and "not both" in both.err


# -- max workers -----------------------------------------------------------------------------

def peak_file_requests(net: Cli, shapes: Any, *args: str) -> int:
    """Run tokacq while watching the simulator: the most file requests open at once."""
    seen = len(shapes.requests)
    process = subprocess.Popen([str(TOKACQ), *args], env=net.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    peak = 0
    while process.poll() is None:
        open_now = [r for r in shapes.requests[seen:]
                    if r.status == 0 and "/api/" not in r.path]
        peak = max(peak, len(open_now))
        time.sleep(0.01)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return peak


def test_max_workers_bounds_the_files_downloaded_at_once(net: Cli, shapes: Any) -> None:
    """With 0.3 s per request, --max-workers 1 never has two file requests open at once;
    --max-workers 4 has several; --max-workers 0 is a usage error."""
    shapes.latency = 0.3
    try:
        one = peak_file_requests(net, shapes, "fetch", LLAMA_REPO, "--max-workers", "1",
                                 "--cache-dir", str(net.cache / "one"))
        four = peak_file_requests(net, shapes, "fetch", LLAMA_REPO, "--max-workers", "4",
                                  "--cache-dir", str(net.cache / "four"))
    finally:
        shapes.latency = 0.0
    assert one == 1
    assert 2 <= four <= 4
    assert net("fetch", LLAMA_REPO, "--max-workers", "0").code == 2


# -- dry run ---------------------------------------------------------------------------------

def test_dry_run_prints_the_plan_and_writes_nothing(net: Cli, shapes: Any) -> None:
    """The resolved commit, every file with its size, what is cached; no file request and
    not one byte written anywhere under the test's directory (cache included)."""
    root = net.cache.parent
    before = tree(root)
    seen = len(shapes.requests)
    run = net("fetch", LLAMA_REPO, "--dry-run")
    assert run.code == 0, run.err
    commit = shapes.commit_for(LLAMA_REPO)
    assert f"commit {commit}" in run.out
    sizes = {name: len(data) for name, data in llama_files().items()}
    lines = run.out.splitlines()
    for name in EXPECTED[LLAMA_REPO]:
        (line,) = [x for x in lines if x.endswith(f"  {name}")]
        assert "to fetch" in line and line.split()[0] != "?"
    assert "7 of 7 files to fetch" in run.out
    assert file_requests(shapes.requests[seen:]) == []
    assert tree(root) == before
    doc = net("fetch", LLAMA_REPO, "--dry-run", "--json").json()
    assert doc["commit"] == commit
    assert {f["name"]: f["size"] for f in doc["files"]} == {
        n: sizes[n] for n in EXPECTED[LLAMA_REPO]}
    assert not any(f["cached"] for f in doc["files"])
    assert doc["download_bytes"] == sum(sizes[n] for n in EXPECTED[LLAMA_REPO])
    assert tree(root) == before


def test_dry_run_says_what_is_already_cached(net: Cli, shapes: Any) -> None:
    """After fetching one file into the key, the plan marks it cached, and the dry run
    still changes nothing in the cache."""
    assert net("fetch", LLAMA_REPO, "-f", "tokenizer.json").code == 0
    before = tree(net.cache)
    seen = len(shapes.requests)
    doc = net("fetch", LLAMA_REPO, "--dry-run", "--json").json()
    cached = {f["name"] for f in doc["files"] if f["cached"]}
    assert cached == {"tokenizer.json"}
    text = net("fetch", LLAMA_REPO, "--dry-run").out
    assert "cached    tokenizer.json" in text and "6 of 7 files to fetch" in text
    assert file_requests(shapes.requests[seen:]) == []
    assert tree(net.cache) == before
    refused = net("fetch", LLAMA_REPO, "--dry-run", "--local-dir", str(net.cache.parent / "x"))
    assert refused.code == 2 and not (net.cache.parent / "x").exists()


# -- local dir -------------------------------------------------------------------------------

def test_local_dir_gets_plain_files_hard_linked_to_the_cache(net: Cli, tmp_path: Path) -> None:
    """DIR holds the set as plain files (no symlinks), sharing the cache's inodes; the
    printed path is DIR's primary file."""
    out = tmp_path / "served"
    run = net("fetch", LLAMA_REPO, "--local-dir", str(out))
    assert run.code == 0, run.err
    assert Path(run.out.strip()) == out / "tokenizer.json"
    snapshot = current_snapshot(net.cache, LLAMA_KEY)
    assert {p.name for p in out.iterdir()} == EXPECTED[LLAMA_REPO]
    for name in EXPECTED[LLAMA_REPO]:
        placed = out / name
        assert placed.is_file() and not placed.is_symlink()
        assert os.path.samefile(placed, snapshot / name)
    doc = net("fetch", LLAMA_REPO, "--local-dir", str(out), "--json").json()
    assert doc["local_dir"]["linked"] == len(EXPECTED[LLAMA_REPO])
    assert doc["local_dir"]["replaced"] == []


def test_local_dir_says_which_user_files_it_replaced(net: Cli, tmp_path: Path) -> None:
    """A different file of the user's under a set name is replaced and named on stderr;
    other files in DIR are left alone."""
    out = tmp_path / "served"
    out.mkdir()
    (out / "config.json").write_text('{"mine": true}')
    (out / "notes.txt").write_text("keep")
    run = net("fetch", GPT2_REPO, "--local-dir", str(out))
    assert run.code == 0, run.err
    assert "replaced 1 existing file(s)" in run.err and "config.json" in run.err
    assert (out / "notes.txt").read_text() == "keep"
    assert '"mine"' not in (out / "config.json").read_text()


# -- refresh ---------------------------------------------------------------------------------

def test_refresh_resolves_a_moved_branch_again(net: Cli, shapes: Any) -> None:
    """The cache serves main's first set with zero requests after main moved; --refresh
    lists again and fetches the new commit."""
    repo = "tiny-org/moving"
    first = shapes.add_repo(repo, {"vocab.txt": b"a\nb\n", "config.json": b'{"v": 1}'})
    assert net("fetch", repo).code == 0
    second = shapes.replace_file(repo, "config.json", b'{"v": 2}')
    assert second != first
    seen = len(shapes.requests)
    cached = net("fetch", repo, "--json").json()
    assert cached["from_cache"] is True and cached["commit"] == first
    assert len(shapes.requests) == seen
    fresh = net("fetch", repo, "--refresh", "--json").json()
    assert fresh["commit"] == second and fresh["from_cache"] is False
    assert Path(fresh["files"]["config.json"]).read_bytes() == b'{"v": 2}'
    again = net("fetch", repo, "--json").json()
    assert again["commit"] == second and again["from_cache"] is True


# -- ls --------------------------------------------------------------------------------------

def test_ls_lists_what_the_preset_selects_with_sizes(net: Cli, shapes: Any) -> None:
    """ls prints each selected file with its size (no weights), downloads and writes
    nothing; --revision lists a given commit; --json gives the plan."""
    before = tree(net.cache.parent)
    seen = len(shapes.requests)
    run = net("ls", LLAMA_REPO)
    assert run.code == 0, run.err
    sizes = {name: len(data) for name, data in llama_files().items()}
    listed = {line.split()[-1]: line for line in run.out.splitlines()[1:-1]}
    assert set(listed) == EXPECTED[LLAMA_REPO]
    assert listed["config.json"].split()[:2] == [str(sizes["config.json"]), "B"]
    assert listed["tokenizer.model"].split()[:2] == [
        f"{sizes['tokenizer.model'] / 1024:.1f}", "KiB"]
    assert file_requests(shapes.requests[seen:]) == []
    assert tree(net.cache.parent) == before
    commit = shapes.commit_for(LLAMA_REPO)
    doc = net("ls", LLAMA_REPO, "--revision", commit, "--json").json()
    assert doc["commit"] == commit and doc["revision"] == commit
    assert {f["name"]: f["size"] for f in doc["files"]} == {
        n: sizes[n] for n in EXPECTED[LLAMA_REPO]}
    narrowed = net("ls", LLAMA_REPO, "--include", "onnx/", "--exclude", "*.onnx", "--json")
    assert "onnx/tokenizer.json" in {f["name"] for f in narrowed.json()["files"]}


def test_ls_errors_are_typed_with_exit_codes(net: Cli, shapes: Any) -> None:
    """Unknown repo or revision: 3; a repo without tokenizer files: 3, naming what it has."""
    shapes.add_repo("tiny-org/weights-only", {"model.safetensors": b"w", "README.md": b"r"})
    missing = net("ls", "tiny-org/nothing-here")
    assert missing.code == 3 and "RepositoryNotFound" in missing.err
    assert net("ls", LLAMA_REPO, "--revision", "v9").code == 3
    empty = net("ls", "tiny-org/weights-only")
    assert empty.code == 3 and "TokenizerNotFound" in empty.err
    assert "model.safetensors" in empty.err and "README.md" in empty.err


def test_ls_is_in_the_help(net: Cli) -> None:
    run = net("--help")
    assert run.code == 0 and "ls" in run.out
    usage = net("ls", "--help")
    assert usage.code == 0 and "--revision" in usage.out and "--include" in usage.out
