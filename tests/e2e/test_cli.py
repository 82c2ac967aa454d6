"""``tokacq`` end to end: every command, its output, its errors and exit codes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import filelock
import pytest

from e2e.conftest import KEY, REPO, TOKACQ, Cli
from support.seeding import MINILM as MINILM_DIR
from support.seeding import current_snapshot
from tokenizer_acquisition.domain.lockfile import LockFile

pytestmark = pytest.mark.timeout(60)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_clean_error(run: Any, code: int, *needles: str) -> None:
    assert run.code == code, (run.code, run.err)
    assert "Traceback" not in run.err
    assert run.err.startswith("tokacq: error:")
    for needle in needles:
        assert needle in run.err


# -- the program itself ----------------------------------------------------------------------

def test_console_script_and_module_are_the_same_program(cli: Cli) -> None:
    """`tokacq --help` and `python -m tokenizer_acquisition --help` list every command."""
    assert TOKACQ.exists()
    for module in (False, True):
        run = cli("--help", module=module)
        assert run.code == 0
        for command in ("fetch", "info", "cache", "lock", "demo"):
            assert command in run.out
        assert "Exit codes" in run.out


def test_usage_errors_exit_2(cli: Cli) -> None:
    """No command, an unknown option, or a malformed --sha256 is a usage error."""
    assert cli().code == 2
    assert cli("fetch", "--bogus").code == 2
    run = cli("fetch", REPO, "--sha256", "no-equals-sign")
    assert run.code == 2 and "FILE=HEX" in run.err
    assert cli("fetch").code == 2


# -- fetch -----------------------------------------------------------------------------------

#: What the tokenizer preset discovers in the MiniLM fixture repo (a BERT: WordPiece).
MINILM_DISCOVERED = {"config.json", "special_tokens_map.json", "tokenizer.json",
                     "tokenizer_config.json", "vocab.txt"}


def test_fetch_downloads_then_serves_from_cache(online: Cli, hub: Any) -> None:
    """First fetch discovers and downloads the tokenizer's files (network), the second is
    a cache hit of the same discovered set with zero requests."""
    run = online("fetch", REPO, "--expected-vocab", "30522")
    assert run.code == 0, run.err
    path = Path(run.out.strip())
    # The printed path is in the snapshot the key links to; the key shows the same files.
    assert path == current_snapshot(online.cache, KEY) / "tokenizer.json"
    assert sha256(path) == sha256(MINILM_DIR / "tokenizer.json")
    assert sha256(online.cache / KEY / "tokenizer.json") == sha256(path)
    assert (online.cache / KEY / "tokenizer_config.json").is_file()
    seen = len(hub.requests)
    again = online("fetch", REPO, "--json", module=True).json()
    assert again["from_cache"] is True and again["strategy"] == "cache-only"
    assert Path(again["path"]) == path
    assert again["commit"] == hub.commit_for(REPO)
    assert again["cache_key"] == KEY and set(again["files"]) == MINILM_DISCOVERED
    assert len(hub.requests) == seen


def test_fetch_json_is_the_whole_result(online: Cli) -> None:
    """--json prints one document with path, files, strategy, bytes and commit."""
    doc = online("fetch", REPO, "-f", "vocab.txt", "--revision", "main",
                 "--cache-key", "vocab-only", "--json").json()
    assert doc["strategy"] == "network" and doc["from_cache"] is False
    assert doc["bytes_downloaded"] == (MINILM_DIR / "vocab.txt").stat().st_size
    assert Path(doc["path"]).name == "vocab.txt"
    assert doc["cache_key"] == "vocab-only"


def test_fetch_unknown_repo_revision_and_file_exit_3(online: Cli) -> None:
    """Repo, revision and file not found on the Hub all exit 3 with suggestions."""
    assert_clean_error(online("fetch", "org/nothing-here"), 3, "RepositoryNotFound",
                       "Suggestions:")
    # The listing (discovery's first request) is what finds the repo missing; hybrid
    # raises that decisive error as itself, after the cache's miss.
    error = online("fetch", "org/nothing-here", "--json").json()["error"]
    assert (error["type"], error["exit_code"]) == ("RepositoryNotFound", 3)
    assert_clean_error(online("fetch", REPO, "--revision", "v9"), 3, "RevisionNotFound")
    assert_clean_error(online("fetch", REPO, "-f", "nope.json"), 3, "EntryNotFound")


def test_offline_cache_miss_exits_3_with_json_error(online: Cli, hub: Any) -> None:
    """--offline never touches the network; a miss is 'not found' and --json says so."""
    seen = len(hub.requests)
    run = online("fetch", "org/never-fetched", "--offline", "--json")
    assert run.code == 3
    error = run.json()["error"]
    assert error["type"] == "AllStrategiesFailed" and error["exit_code"] == 3
    assert error["suggestions"]
    assert len(hub.requests) == seen


def test_gated_repo_exits_4(online: Cli) -> None:
    """A gated repo without an accepted token is an auth failure."""
    assert_clean_error(online("fetch", "org/gated"), 4, "GatedRepository")
    error = online("fetch", "org/gated", "--json").json()["error"]
    assert (error["type"], error["exit_code"]) == ("GatedRepository", 4)


def test_unreachable_endpoint_exits_5(cli: Cli) -> None:
    """Connection refused (a dead loopback port) is a network failure."""
    config = cli.cache.parent / "t.toml"
    config.write_text('[network]\nendpoint = "http://127.0.0.1:9"\nmax_retries = 0\n')
    assert_clean_error(cli("fetch", REPO, "--config", str(config)), 5, "NetworkError",
                       "127.0.0.1:9")
    error = cli("fetch", REPO, "--config", str(config), "--json").json()["error"]
    assert (error["type"], error["exit_code"]) == ("NetworkError", 5)


def test_vocab_and_hash_mismatches_exit_6(online: Cli) -> None:
    """A wrong expected vocabulary or a wrong sha256 pin is an integrity failure."""
    assert_clean_error(online("fetch", REPO, "--expected-vocab", "5"), 6, "expected 5")
    run = online("fetch", REPO, "-f", "tokenizer.json", "--cache-key", "pinned",
                 "--sha256", f"tokenizer.json={'0' * 64}")
    assert_clean_error(run, 6, "IntegrityError")
    assert not (online.cache / "pinned" / "tokenizer.json").exists()


def test_unwritable_cache_exits_8(online: Cli) -> None:
    """A cache path that is a regular file cannot be written."""
    blocker = online.cache.parent / "not-a-dir"
    blocker.write_text("x")
    assert_clean_error(online("fetch", REPO, "--cache-dir", str(blocker)), 8,
                       "cannot write to the cache")


def test_configuration_errors_exit_2(online: Cli, tmp_path: Path) -> None:
    """A bad config file, a contradiction and an invalid repo are configuration errors."""
    bad = tmp_path / "bad.toml"
    bad.write_text('strategy = "netwrk"\n')
    assert_clean_error(online("fetch", REPO, "--config", str(bad)), 2, "did you mean 'network'")
    assert_clean_error(online("fetch", REPO, "--strategy", "network", "--offline"), 2,
                       "contradicts offline mode")
    assert_clean_error(online("fetch", "not a repo"), 2, "invalid repo")


def test_debug_shows_the_traceback(online: Cli) -> None:
    """Only --debug adds a traceback to an error."""
    run = online("fetch", "org/nothing-here", "--offline", "--debug")
    assert run.code == 3 and "Traceback" in run.err


def test_token_is_never_printed(online: Cli) -> None:
    """info and errors never show the token's value."""
    secret = "hf_DoNotPrintMe0123456789abcdef"
    for args in (("info",), ("info", "--json"), ("fetch", "org/gated", "--debug")):
        run = online(*args, HF_TOKEN=secret)
        assert secret not in run.out and secret not in run.err


def test_cache_only_commands_do_not_import_aiohttp(online: Cli) -> None:
    """cache list and a cache-only fetch run without loading aiohttp."""
    code = ("import sys; from tokenizer_acquisition.entrypoints.cli import main; "
            "codes = [main(['cache', 'list']), main(['fetch', 'x/y', '--strategy', "
            "'cache-only'])]; print(codes, 'aiohttp' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], env=online.env, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip().endswith("[0, 3] False"), done.stderr


# -- info ------------------------------------------------------------------------------------

def test_info_reports_strategies_and_setting_sources(online: Cli, hub: Any) -> None:
    """Every strategy with availability and requirements; each setting with its source."""
    doc = online("info", "--json", "--cache-dir", str(online.cache)).json()
    names = [s["name"] for s in doc["strategies"]]
    assert names[0] == "cache-only" and "network" in names
    assert all(s["requirements"] for s in doc["strategies"])
    sources = {row["key"]: row["source"] for row in doc["settings"]}
    assert sources["cache_dir"] == "command line"
    assert sources["network.endpoint"] == "environment variable HF_ENDPOINT"
    assert sources["network.max_retries"].startswith("config file")
    assert sources["lock_timeout"] == "default"
    assert doc["cache_dir"] == str(online.cache)


def test_info_says_why_network_is_unavailable_offline(online: Cli) -> None:
    """Offline, the network strategy is listed as unavailable with the reason."""
    doc = online("info", "--json", HF_HUB_OFFLINE="1").json()
    network = next(s for s in doc["strategies"] if s["name"] == "network")
    assert network["available"] is False and "HF_HUB_OFFLINE" in network["reason"]
    text = online("info", HF_HUB_OFFLINE="1").out
    assert "unavailable: offline mode is on" in text and "settings (value, source)" in text


# -- cache -----------------------------------------------------------------------------------

def test_cache_list_path_verify_prune(online: Cli) -> None:
    """The cache commands on a fetched tokenizer, text and JSON."""
    assert online("fetch", REPO).code == 0
    listed = online("cache", "list", "--json").json()
    (entry,) = listed["keys"]
    assert entry["key"] == KEY and entry["repo"] == REPO and len(entry["commit"]) == 40
    assert entry["managed"] is True and entry["problems"] == []
    assert {f["file"] for f in entry["files"]} == MINILM_DISCOVERED
    assert KEY in online("cache", "list").out
    path = online("cache", "path", KEY)
    assert path.code == 0 and Path(path.out.strip()) == online.cache / KEY
    assert online("cache", "verify", "--json").json()["ok"] is True
    assert online("cache", "verify", KEY).code == 0
    pruned = online("cache", "prune", KEY, "--json").json()
    assert pruned["keys"] == [KEY]
    assert online("cache", "list", "--json").json()["keys"] == []


def test_cache_verify_names_corrupt_and_missing_files_and_exits_6(online: Cli) -> None:
    """A corrupted file and a deleted file are both named; exit 6."""
    assert online("fetch", REPO).code == 0
    (online.cache / KEY / "tokenizer.json").write_text("{}")
    (online.cache / KEY / "tokenizer_config.json").unlink()
    run = online("cache", "verify")
    assert run.code == 6
    assert f"CORRUPT    {KEY}/tokenizer.json" in run.out
    assert f"MISSING    {KEY}/tokenizer_config.json" in run.out


def test_cache_unknown_key_exits_3(online: Cli) -> None:
    """path, verify and prune of a key the cache does not hold are 'not found'."""
    for action in ("path", "verify", "prune"):
        assert_clean_error(online("cache", action, "nope"), 3, "no cache key 'nope'")
    assert_clean_error(online("cache", "path", "../etc"), 2, "invalid cache_key")


def test_cache_prune_partials_and_all(online: Cli) -> None:
    """--partials removes interrupted downloads only; --all removes everything."""
    assert online("fetch", REPO).code == 0
    partial = online.cache / ".tokacq" / "partials" / KEY / "x.tokacq-partial"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"half")
    assert online("cache", "prune", "--partials", "--json").json()["partials"] == 1
    assert not partial.exists() and (online.cache / KEY / "tokenizer.json").exists()
    assert online("cache", "prune", "--all", "--yes", "--json").json()["keys"] == [KEY]
    assert not (online.cache / KEY).exists()
    assert online("cache", "prune").code == 2


def test_prune_of_a_locked_key_exits_7(online: Cli) -> None:
    """A key whose lock another process holds times out with exit 7, files kept."""
    assert online("fetch", REPO).code == 0
    lock = online.cache / ".tokacq" / "locks" / f"{KEY}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(lock)):
        run = online("cache", "prune", KEY, TOKACQ_LOCK_TIMEOUT="0.2")
    assert_clean_error(run, 7, "timed out")
    assert (online.cache / KEY / "tokenizer.json").exists()


# -- lock ------------------------------------------------------------------------------------

def test_lock_then_fetch_the_locked_commit_after_main_moved(online: Cli, hub: Any,
                                                            tmp_path: Path) -> None:
    """The lock file pins commit and hashes; fetch --lock gets them even after main moves."""
    repo = "org/lock-target"
    files = {"tokenizer.json": (MINILM_DIR / "tokenizer.json").read_bytes(),
             "tokenizer_config.json": b'{"v": 1}'}
    old = hub.add_repo(repo, files)
    lock_path = tmp_path / "tokenizers.lock"
    run = online("lock", repo, REPO, "-o", str(lock_path), "--json")
    assert run.code == 0, run.err
    lock = LockFile.parse(lock_path.read_text())
    assert {e.commit for e in lock.entries if e.repo == repo} == {old}
    # Both sets discovered: the two files of org/lock-target, the five of MiniLM.
    assert len(run.json()["entries"]) == 2 + len(MINILM_DISCOVERED)
    hub.replace_file(repo, "tokenizer_config.json", b'{"v": 2}')
    fresh = tmp_path / "fresh-cache"
    run = online("fetch", "--lock", str(lock_path), "--cache-dir", str(fresh), "--json")
    assert run.code == 0, run.err
    results = {r["cache_key"]: r for r in run.json()["results"]}
    locked = results["org--lock-target"]
    assert locked["commit"] == old
    assert Path(locked["files"]["tokenizer_config.json"]).read_bytes() == b'{"v": 1}'


def test_fetch_lock_rejects_tampered_hashes_and_bad_files(online: Cli, tmp_path: Path) -> None:
    """A lock whose sha256 does not match the Hub's bytes exits 6; a broken lock exits 2."""
    lock_path = tmp_path / "tokenizers.lock"
    assert online("lock", REPO, "-f", "tokenizer.json", "-o", str(lock_path)).code == 0
    good = LockFile.parse(lock_path.read_text()).entries[0].sha256
    lock_path.write_text(lock_path.read_text().replace(good, "0" * 64))
    fresh = str(tmp_path / "fresh")
    assert_clean_error(online("fetch", "--lock", str(lock_path), "--cache-dir", fresh), 6)
    lock_path.write_text("version = 1\n")
    assert_clean_error(online("fetch", "--lock", str(lock_path)), 2, "at least one [[entry]]")
    assert_clean_error(online("fetch", "--lock", str(tmp_path / "missing.lock")), 2,
                       "cannot read the lock file")
    run = online("fetch", REPO, "--lock", str(lock_path))
    assert run.code == 2 and "drop REPO" in run.err


def test_lock_to_stdout(online: Cli) -> None:
    """-o - writes the TOML to stdout."""
    run = online("lock", REPO, "-f", "vocab.txt", "-o", "-")
    assert run.code == 0
    (entry,) = LockFile.parse(run.out).entries
    assert entry.file == "vocab.txt" and entry.sha256 == sha256(MINILM_DIR / "vocab.txt")
