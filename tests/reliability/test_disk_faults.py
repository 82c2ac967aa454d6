"""Disk trouble: full, read-only, not ours, not a directory, vanishing, edited behind our back."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reliability.conftest import Results
from reliability.harness import (
    ACQUIRE_CHILD,
    TOKACQ,
    child_env,
    outcome,
    run_python,
    sha256,
    without_root_powers,
)
from support.network import blob, partial_files
from support.sandbox import run_read_only
from tokenizer_acquisition.testing import HubSimulator, SlowDrip

COMMAND = "pytest tests/reliability/test_disk_faults.py"
BIG = blob(3_000_000, seed=21)
SMALL = b'{"do_lower_case": true}'
REPO = "org/disk"
FILES = {"tokenizer.json": BIG, "tokenizer_config.json": SMALL}
CLI_TYPED_EXITS = {2, 3, 5, 6, 7, 8}


@pytest.fixture
def sim() -> Iterator[HubSimulator]:
    with HubSimulator().run_in_thread() as simulator:
        simulator.add_repo(REPO, FILES, lfs=["tokenizer.json"])
        yield simulator


def _acquire(sim: HubSimulator, cache: Path, *files: str, strategy: str = "network",
             preexec_fn: Callable[[], None] | None = None) -> dict[str, Any]:
    done = run_python(ACQUIRE_CHILD, [strategy, str(cache), sim.endpoint, REPO, "k", *files],
                      preexec_fn=preexec_fn)
    return outcome(done)


def _manifest(cache: Path) -> dict[str, Any] | None:
    try:
        parsed: dict[str, Any] = json.loads(
            (cache / ".tokacq" / "manifests" / "k.json").read_text())
        return parsed
    except (OSError, ValueError):
        return None


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_disk_full_is_a_typed_error_and_leaves_the_cache_sound(
        sim: HubSimulator, tmp_path: Path, results: Results) -> None:
    """RLIMIT_FSIZE mid-file: CacheWriteError naming the path; nothing published; manifest whole."""
    cache = tmp_path / "cache"
    first = _acquire(sim, cache, "tokenizer_config.json")
    manifest_before = _manifest(cache)
    full = _acquire(sim, cache, "tokenizer_config.json", "tokenizer.json",
                    preexec_fn=_file_size_limit(1_200_000))
    kept = partial_files(cache, "k")
    after = _manifest(cache)
    resumable_or_gone = all(p.stat().st_size <= 1_200_000 for p in kept)
    retry = _acquire(sim, cache, "tokenizer_config.json", "tokenizer.json")
    whole = (cache / "k" / "tokenizer.json").read_bytes() if retry["ok"] else b""
    ok = (first["ok"] and full.get("type") == "CacheWriteError"
          and full.get("path", "").startswith(str(cache)) and after == manifest_before
          and resumable_or_gone and retry["ok"] and whole == BIG)
    results.add("disk full (RLIMIT_FSIZE) while writing", runs=1, passed=int(ok),
                bytes_lost=0 if whole == BIG else len(BIG), command=COMMAND)
    assert ok, (first, full, after == manifest_before, [p.stat().st_size for p in kept], retry)


def test_read_only_cache_serves_hits_and_refuses_misses(
        sim: HubSimulator, tmp_path: Path, results: Results) -> None:
    """A read-only bind mount: hits (network and cache-only) work; a miss says not writable."""
    cache = tmp_path / "cache"
    assert _acquire(sim, cache, "tokenizer_config.json")["ok"]
    runs = {}
    for name, strategy, files in [("network hit", "network", ["tokenizer_config.json"]),
                                  ("cache-only hit", "cache-only", ["tokenizer_config.json"]),
                                  ("network miss", "network", ["tokenizer.json"])]:
        done = run_read_only([cache], [sys.executable, "-c", ACQUIRE_CHILD, strategy,
                                       str(cache), sim.endpoint, REPO, "k", *files],
                             env=child_env())
        runs[name] = outcome(done)
    miss = runs["network miss"]
    ok = (runs["network hit"]["ok"] and runs["cache-only hit"]["ok"]
          and miss.get("type") == "CacheWriteError" and "not writable" in miss["message"])
    results.add("read-only cache: hits served, misses refused", runs=3,
                passed=int(runs["network hit"]["ok"]) + int(runs["cache-only hit"]["ok"])
                + int(miss.get("type") == "CacheWriteError"), command=COMMAND)
    assert ok, runs


@pytest.mark.parametrize("where", ["cache root", "partials directory",
                                   "key's snapshots directory", "blob store"])
def test_permission_denied_is_a_typed_error(sim: HubSimulator, tmp_path: Path, where: str,
                                            results: Results) -> None:
    """A cache (or part of it) we may not write: CacheWriteError, never a bare OSError.

    (The key's files are written under ``.tokacq``: ``<cache>/k`` is only a link, and an
    empty real directory there may be replaced, so it is not a place we must write in.)
    """
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("root without setpriv: permission bits cannot be made to apply")
    cache = tmp_path / "cache"
    locked = {"cache root": cache, "partials directory": cache / ".tokacq" / "partials" / "k",
              "key's snapshots directory": cache / ".tokacq" / "snapshots" / "k",
              "blob store": cache / ".tokacq" / "blobs"}[where]
    locked.mkdir(parents=True)
    locked.chmod(0o555)
    try:
        done = run_python(ACQUIRE_CHILD, ["network", str(cache), sim.endpoint, REPO, "k",
                                          "tokenizer.json"], prefix=without_root_powers())
    finally:
        locked.chmod(0o755)
    result = outcome(done)
    ok = result.get("type") == "CacheWriteError" and result.get("typed") is True
    results.add("permission denied / cache dir is a file / removed mid-run", runs=1,
                passed=int(ok), command=COMMAND)
    assert ok, (result, done.stderr[-1500:])


def test_cache_dir_that_is_a_file(sim: HubSimulator, tmp_path: Path, results: Results) -> None:
    """cache_dir names a file: network says so (CacheWriteError), cache-only misses, CLI exits 8."""
    cache = tmp_path / "cache"
    cache.write_text("not a directory")
    network = _acquire(sim, cache, "tokenizer_config.json")
    cache_only = _acquire(sim, cache, "tokenizer_config.json", strategy="cache-only")
    cli = subprocess.run([str(TOKACQ), "fetch", REPO, "--cache-dir", str(cache)],
                         env=child_env(HF_ENDPOINT=sim.endpoint, HOME=str(tmp_path)),
                         capture_output=True, text=True, timeout=60)
    ok = (network.get("type") == "CacheWriteError" and cache_only.get("type")
          == "TokenizerNotFound" and cli.returncode == 8 and "Traceback" not in cli.stderr)
    results.add("permission denied / cache dir is a file / removed mid-run", runs=3,
                passed=int(network.get("type") == "CacheWriteError")
                + int(cache_only.get("type") == "TokenizerNotFound")
                + int(cli.returncode == 8 and "Traceback" not in cli.stderr), command=COMMAND)
    assert ok, (network, cache_only, cli.returncode, cli.stderr[-1500:])


def test_cache_dir_removed_mid_download(sim: HubSimulator, tmp_path: Path,
                                        results: Results) -> None:
    """The cache directory vanishes while tokacq downloads: a typed exit code, no traceback."""
    cache = tmp_path / "cache"
    sim.inject(SlowDrip(chunk_size=64 * 1024, delay_s=0.02), path="tokenizer.json")
    child = subprocess.Popen(
        [str(TOKACQ), "fetch", REPO, "--cache-dir", str(cache), "--cache-key", "k"],
        env=child_env(HF_ENDPOINT=sim.endpoint, HOME=str(tmp_path)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
            partial_files(cache, "k") and partial_files(cache, "k")[0].stat().st_size > 0):
        time.sleep(0.01)
    cache.rename(tmp_path / "gone")  # vanishes at once; the child still holds open files
    shutil.rmtree(tmp_path / "gone", ignore_errors=True)
    _, err = child.communicate(timeout=60)
    served = (cache / "k" / "tokenizer.json")
    intact = not served.exists() or served.read_bytes() == BIG
    ok = (child.returncode == 0 and intact) or (
        child.returncode in CLI_TYPED_EXITS and "Traceback" not in err and intact)
    results.add("permission denied / cache dir is a file / removed mid-run", runs=1,
                passed=int(ok), bytes_lost=0 if intact else len(BIG), command=COMMAND)
    assert ok, (child.returncode, err[-2000:])


def test_cached_file_resized_after_publication(sim: HubSimulator, tmp_path: Path,
                                               results: Results) -> None:
    """A published file changes size: network, hybrid re-fetch; cache-only, verify refuse it."""
    cache = tmp_path / "cache"
    files = ("tokenizer_config.json", "tokenizer.json")
    assert _acquire(sim, cache, *files)["ok"]
    target = cache / "k" / "tokenizer.json"
    outcomes: dict[str, bool] = {}

    def tamper() -> None:
        with target.open("ab") as handle:
            handle.write(b"tampered")

    tamper()
    only = _acquire(sim, cache, *files, strategy="cache-only")
    outcomes["cache-only: typed miss"] = only.get("type") == "TokenizerNotFound"
    verify = subprocess.run([str(TOKACQ), "cache", "verify", "--cache-dir", str(cache)],
                            env=child_env(HOME=str(tmp_path)), capture_output=True, text=True,
                            timeout=60)
    outcomes["cache verify: reports it"] = (verify.returncode == 6 and "corrupt" in
                                            (verify.stdout + verify.stderr).lower())
    network = _acquire(sim, cache, *files)
    outcomes["network: re-fetched"] = network["ok"] and sha256(target.read_bytes()) == sha256(BIG)
    tamper()
    hybrid = subprocess.run([str(TOKACQ), "fetch", REPO, "--cache-dir", str(cache),
                             "--cache-key", "k", "--strategy", "hybrid", "--json"],
                            env=child_env(HF_ENDPOINT=sim.endpoint, HOME=str(tmp_path)),
                            capture_output=True, text=True, timeout=60)
    outcomes["hybrid: re-fetched"] = (hybrid.returncode == 0
                                      and target.read_bytes() == BIG)
    clean = subprocess.run([str(TOKACQ), "cache", "verify", "--cache-dir", str(cache)],
                           env=child_env(HOME=str(tmp_path)), capture_output=True, text=True,
                           timeout=60)
    outcomes["cache verify: clean after re-fetch"] = clean.returncode == 0
    results.add("cached file resized after publication", runs=len(outcomes),
                passed=sum(outcomes.values()),
                bytes_lost=0 if target.read_bytes() == BIG else len(BIG), command=COMMAND)
    assert all(outcomes.values()), (outcomes, only, hybrid.stderr[-1500:])
