"""Issue 9: never serve wrong bytes. Real processes, real signals, the Hub simulator.

Each test reproduces one of the issue's reproductions (numbered as there), the kill-point
sweep over every step of publishing a 4-file set, and a property test of two writers and
a reader on one key. A comment starting "Old model:" in each test says why it fails on
the storage model before issue 9 (files placed one by one in ``<cache>/<key>/``, one
manifest written at the end, hits trusting size and mtime, mkstemp's 0600).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reliability.conftest import Results
from reliability.harness import without_root_powers
from support.set_integrity import (
    FOUR,
    KILL_CHILD,
    MINILM,
    RERUN_CHILD,
    TOKACQ,
    blob_names,
    cache_problems,
    commit_digests,
    env_for,
    file_sha,
    json_out,
    last_json,
    leftovers,
    modes_under,
    run_child,
    same_size_variant,
    served_files,
    sha256,
    tokacq,
    unlinked_snapshots,
)
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
from tokenizer_acquisition.domain.download_policy import Backoff
from tokenizer_acquisition.ports.lock import NoLock
from tokenizer_acquisition.strategies import CacheOnlyAcquisition, NetworkAcquisition
from tokenizer_acquisition.testing import HubSimulator, SlowDrip

COMMAND = "pytest tests/reliability/test_set_integrity.py"
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

CONFIG = (MINILM / "tokenizer_config.json").read_bytes()
TOKENIZER = (MINILM / "tokenizer.json").read_bytes()
#: A larger tokenizer.json (still valid JSON), so a download of it can be caught mid-way.
BIG_TOKENIZER = TOKENIZER + b" " * 2_500_000
DRIP = SlowDrip(chunk_size=32 * 1024, delay_s=0.02)  # ~1.6 MB/s
SETPRIV = shutil.which("setpriv")
NOBODY = 65534


@pytest.fixture
def sim() -> Iterator[HubSimulator]:
    with HubSimulator().run_in_thread() as simulator:
        yield simulator


def _wait_until(condition: Callable[[], bool], child: subprocess.Popen[Any] | None = None,
                timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if child is not None and child.poll() is not None:
            out, err = child.communicate()
            pytest.fail(f"the child ended ({child.returncode}) before the kill point: "
                        f"{out[-500:]} {err[-1500:]}")
        time.sleep(0.005)
    pytest.fail("the kill point was never reached")


def _stop(child: subprocess.Popen[Any], sig: int) -> int:
    child.send_signal(sig)
    try:
        child.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail(f"the child ignored signal {sig} for 20 s")
    return child.returncode


def _partials(cache: Path, key: str, file: str) -> list[Path]:
    return list((cache / ".tokacq" / "partials" / key).glob(f"{file}.*.tokacq-partial"))


def _journals(cache: Path, key: str) -> list[Path]:
    return list((cache / ".tokacq" / "partials" / key).glob("*.tokacq-set"))


def _lock(sim: HubSimulator, tmp: Path, repo: str, output: Path, *files: str) -> dict[str, str]:
    """``tokacq lock`` into a throwaway cache; returns the lock's pins (file -> sha256)."""
    args = [a for f in files for a in ("-f", f)]
    done = tokacq(env_for(sim, tmp), "lock", repo, *args, "-o", str(output), "--cache-dir",
                  str(tmp / f"lock-cache-{output.stem}"))
    assert done.returncode == 0, done.stderr
    import tomllib

    return {e["file"]: e["sha256"] for e in tomllib.loads(output.read_text())["entry"]}


# -- reproduction 1 ---------------------------------------------------------------------------

def test_lock_rollback_after_a_kill_serves_the_locked_bytes(sim: HubSimulator,
                                                             tmp_path: Path) -> None:
    """fetch --lock L2 SIGKILLed mid-set: fetch --lock L1 then serves L1's pinned bytes."""
    repo, files = "org/rollback", ("tokenizer.json", "tokenizer_config.json")
    c1 = sim.add_repo(repo, {"tokenizer.json": TOKENIZER, "tokenizer_config.json": CONFIG})
    pins1 = _lock(sim, tmp_path, repo, tmp_path / "L1.toml", *files)
    # C2: tokenizer_config.json changes with the same size (and tokenizer.json grows, so
    # that a download of it is in flight when the small file is already stored).
    c2 = sim.add_repo(repo, {"tokenizer.json": BIG_TOKENIZER,
                             "tokenizer_config.json": same_size_variant(CONFIG)})
    assert c2 != c1
    pins2 = _lock(sim, tmp_path, repo, tmp_path / "L2.toml", *files)
    assert pins2["tokenizer_config.json"] != pins1["tokenizer_config.json"]
    cache, env = tmp_path / "cache", env_for(sim, tmp_path)
    first = tokacq(env, "fetch", "--lock", str(tmp_path / "L1.toml"), "--cache-dir", str(cache))
    assert first.returncode == 0, first.stderr
    sim.inject(DRIP, path="tokenizer.json")
    child = subprocess.Popen([str(TOKACQ), "fetch", "--lock", str(tmp_path / "L2.toml"),
                              "--cache-dir", str(cache)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    small_stored = cache / ".tokacq" / "blobs" / pins2["tokenizer_config.json"]
    _wait_until(lambda: small_stored.exists() and any(
        p.stat().st_size > 0 for p in _partials(cache, "org--rollback", "tokenizer.json")),
        child)
    _stop(child, signal.SIGKILL)
    sim.clear()
    again = tokacq(env, "fetch", "--lock", str(tmp_path / "L1.toml"), "--cache-dir",
                   str(cache), "--json")
    assert again.returncode == 0, again.stderr
    # Old model: the small file of C2 was already placed in <cache>/<key>/, the manifest
    # still said C1 with the same size: served with exit 0 and zero requests.
    assert served_files(json_out(again)) == pins1
    assert commit_digests(sim, repo, c1)["tokenizer_config.json"] == pins1[
        "tokenizer_config.json"]


@pytest.mark.parametrize("pinned", [True, False], ids=["with-sha256", "without-sha256"])
def test_same_size_byte_flip_is_never_served(sim: HubSimulator, tmp_path: Path,
                                             pinned: bool) -> None:
    """A cached file's byte flipped (same size, mtime restored) is never served."""
    repo = "org/flip"
    sim.add_repo_from_dir(repo, MINILM)
    cache, env = tmp_path / "cache", env_for(sim, tmp_path)
    base = ["--cache-dir", str(cache), "--cache-key", "k", "-f", "tokenizer.json", "-f",
            "tokenizer_config.json", "--json"]
    if pinned:
        base += ["--sha256", f"tokenizer_config.json={sha256(CONFIG)}"]
    assert tokacq(env, "fetch", repo, *base).returncode == 0
    target = cache / "k" / "tokenizer_config.json"
    before = os.stat(target)
    with open(target, "r+b") as handle:
        handle.seek(20)
        byte = handle.read(1)
        handle.seek(20)
        handle.write(bytes([byte[0] ^ 0x01]))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(target).st_size == before.st_size
    assert os.stat(target).st_mtime_ns == before.st_mtime_ns
    # Old model: size and mtime match the manifest, so the flipped file was a hit.
    only = tokacq(env, "fetch", repo, *base, "--strategy", "cache-only")
    assert only.returncode == 3, (only.stdout, only.stderr)
    for strategy in ("hybrid", "network"):
        done = tokacq(env, "fetch", repo, *base, "--strategy", strategy)
        assert done.returncode == 0, done.stderr
        assert served_files(json_out(done))["tokenizer_config.json"] == sha256(CONFIG)


# -- reproduction 2 ---------------------------------------------------------------------------

def test_sigterm_mid_set_then_the_remote_moves(sim: HubSimulator, tmp_path: Path) -> None:
    """SIGTERM mid-set, new commit: the next fetch serves one commit's bytes, all recorded."""
    repo = "org/term"
    a = sim.add_repo(repo, {"tokenizer.json": BIG_TOKENIZER, "tokenizer_config.json": CONFIG,
                            "vocab.txt": (MINILM / "vocab.txt").read_bytes(),
                            "special_tokens_map.json":
                                (MINILM / "special_tokens_map.json").read_bytes()})
    cache, env = tmp_path / "cache", env_for(sim, tmp_path)
    args = ["fetch", repo, "--revision", "main", "--cache-key", "k", "--cache-dir", str(cache),
            *[a for f in FOUR for a in ("-f", f)], "--json"]
    sim.inject(DRIP, path="tokenizer.json")
    child = subprocess.Popen([str(TOKACQ), *args], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    small = cache / ".tokacq" / "blobs" / sha256(CONFIG)
    _wait_until(lambda: small.exists() and bool(_journals(cache, "k")) and any(
        p.stat().st_size > 0 for p in _partials(cache, "k", "tokenizer.json")), child)
    _stop(child, signal.SIGTERM)
    x = sim.replace_file(repo, "tokenizer_config.json", same_size_variant(CONFIG))
    done = tokacq(env, *args)
    assert done.returncode == 0, done.stderr
    result = json_out(done)
    commit = result["commit"]
    assert commit in (a, x)
    # Old model: reported B but served A's tokenizer_config.json (placed before the kill).
    assert served_files(result) == {f: commit_digests(sim, repo, commit)[f] for f in FOUR}
    assert cache_problems(cache) == []
    state = FileSystemCache(cache).state("k")
    assert state.snapshot is not None and sorted(state.snapshot.files) == sorted(FOUR)


# -- reproduction 3 ---------------------------------------------------------------------------

def test_a_branch_moving_during_a_download_gives_one_commit(sim: HubSimulator,
                                                             tmp_path: Path) -> None:
    """The branch advances while tokenizer.json downloads: every file is of result.commit."""
    repo = "org/moving"
    a = sim.add_repo(repo, {"tokenizer.json": BIG_TOKENIZER, "tokenizer_config.json": CONFIG})
    config = tmp_path / "tokacq.toml"
    config.write_text("[network]\nmax_concurrent_files = 1\n")  # files one after the other
    cache, env = tmp_path / "cache", env_for(sim, tmp_path)
    sim.inject(DRIP, path="tokenizer.json")
    child = subprocess.Popen(
        [str(TOKACQ), "fetch", repo, "--config", str(config), "--cache-dir", str(cache),
         "--cache-key", "k", "-f", "tokenizer.json", "-f", "tokenizer_config.json", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_until(lambda: any(p.stat().st_size > 0
                            for p in _partials(cache, "k", "tokenizer.json")), child)
    b = sim.replace_file(repo, "tokenizer_config.json", same_size_variant(CONFIG))
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    result = json.loads(out)
    # Old model: tokenizer.json from A, tokenizer_config.json from B, result.commit = A.
    assert result["commit"] in (a, b)
    expected = commit_digests(sim, repo, result["commit"])
    assert served_files(result) == {f: expected[f] for f in result["files"]}
    state = FileSystemCache(cache).state("k")
    assert state.snapshot is not None and state.snapshot.commit == result["commit"]
    assert {e.commit for e in state.snapshot.files.values()} == {result["commit"]}


# -- reproduction 7 ---------------------------------------------------------------------------

def test_one_cache_key_for_two_repos_is_a_conflict(sim: HubSimulator, tmp_path: Path) -> None:
    """A second repo under the same cache_key: CacheKeyConflict (exit 2) naming both."""
    sim.add_repo_from_dir("org/first", MINILM)
    sim.add_repo("org/second", {"tokenizer.json": b"{}", "tokenizer_config.json": b"{}"})
    cache, env = tmp_path / "cache", env_for(sim, tmp_path)
    common = ["--cache-dir", str(cache), "--cache-key", "shared"]
    assert tokacq(env, "fetch", "org/first", *common).returncode == 0
    before = FileSystemCache(cache).state("shared")
    digests = {p.name: file_sha(p) for p in (cache / "shared").iterdir()}
    for strategy in ("hybrid", "network", "cache-only"):
        done = tokacq(env, "fetch", "org/second", *common, "--strategy", strategy)
        # Old model: the files were replaced with exit 0, and replaced back by the other.
        assert done.returncode == 2, (strategy, done.stdout, done.stderr)
        assert "org/first" in done.stderr and "org/second" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    after = FileSystemCache(cache).state("shared")
    assert after.sid == before.sid and after.snapshot == before.snapshot
    assert {p.name: file_sha(p) for p in (cache / "shared").iterdir()} == digests
    assert not sim.file_gets("tokenizer.json", "org/second")


# -- reproduction 8 ---------------------------------------------------------------------------

def _count_calls(sim: HubSimulator, tmp: Path, repo: str, files: tuple[str, ...] = FOUR
                 ) -> list[list[str]]:
    """The durable/visible calls of one clean acquisition (in a throwaway cache)."""
    done = run_child(KILL_CHILD, [str(tmp / "count-cache"), sim.endpoint, repo, "k", "0",
                                  *files], env_for(None, tmp))
    out = last_json(done)
    assert done.returncode == 0 and out is not None, done.stderr[-2000:]
    calls: list[list[str]] = out["calls"]
    return calls


def _kill_at(sim: HubSimulator, cache: Path, repo: str, n: int, home: Path,
             files: tuple[str, ...] = FOUR) -> subprocess.CompletedProcess[str]:
    done = run_child(KILL_CHILD, [str(cache), sim.endpoint, repo, "k", str(n), *files],
                     env_for(None, home))
    assert done.returncode == -signal.SIGKILL, (n, done.returncode, done.stderr[-2000:])
    return done


def _rerun(sim: HubSimulator, cache: Path, repo: str, home: Path, *extra: str,
           strategy: str = "network", files: tuple[str, ...] = FOUR) -> dict[str, Any]:
    done = run_child(RERUN_CHILD, [str(cache), sim.endpoint, repo, "k", strategy, *files,
                                   *extra], env_for(None, home))
    out = last_json(done)
    assert out is not None, done.stderr[-2000:]
    return out


def _manifest_write(calls: list[list[str]]) -> int:
    """The 1-based index of the rename that puts the snapshot's manifest in place."""
    for index, call in enumerate(calls, 1):
        if call[0] == "replace" and "/snapshots/" in call[-1] and call[-1].endswith(".json"):
            return index
    raise AssertionError(calls)


@pytest.mark.parametrize("where", ["before-manifest-fsync", "before-manifest-rename"])
def test_killed_during_the_manifest_write(sim: HubSimulator, tmp_path: Path,
                                          where: str) -> None:
    """SIGKILL while the manifest is written: the rerun records every file, prune cleans."""
    repo = "org/manifest-kill"
    sim.add_repo_from_dir(repo, MINILM)
    calls = _count_calls(sim, tmp_path, repo)
    n = _manifest_write(calls) - (1 if where == "before-manifest-fsync" else 0)
    assert calls[n - 1][0] in ("fsync", "fdatasync", "replace"), calls[n - 1]
    cache = tmp_path / "cache"
    _kill_at(sim, cache, repo, n, tmp_path)
    out = _rerun(sim, cache, repo, tmp_path, "--no-verify")
    assert out["ok"], out
    assert served_files(out) == {f: commit_digests(sim, repo, out["commit"])[f] for f in FOUR}
    assert cache_problems(cache) == []
    state = FileSystemCache(cache).state("k")
    assert state.snapshot is not None and sorted(state.snapshot.files) == sorted(FOUR)
    prune = tokacq(env_for(None, tmp_path), "cache", "prune", "--partials", "--cache-dir",
                   str(cache))
    assert prune.returncode == 0, prune.stderr
    # Old model: a *.tokacq-tmp manifest survived every prune.
    assert leftovers(cache) == []
    assert unlinked_snapshots(cache) == []


#: A child whose fsync of the snapshot manifest's temp file fails with ENOSPC.
ENOSPC_CHILD = r"""
import errno, os, runpy, sys
real = os.fsync
def fsync(fd):
    try:
        name = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        name = ""
    if "/snapshots/" in name and ".json." in name and name.endswith(".tokacq-tmp"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real(fd)
os.fsync = fsync
sys.argv = ["tokacq", *sys.argv[1:]]
from tokenizer_acquisition.entrypoints.cli import main
sys.exit(main())
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_disk_full_during_the_manifest_write(sim: HubSimulator, tmp_path: Path) -> None:
    """ENOSPC writing the manifest: exit 8, nothing published; the rerun records all."""
    repo = "org/enospc"
    sim.add_repo_from_dir(repo, MINILM)
    cache, env = tmp_path / "cache", env_for(sim, tmp_path)
    args = ["fetch", repo, "--cache-dir", str(cache), "--cache-key", "k",
            *[a for f in FOUR for a in ("-f", f)], "--json"]
    full = run_child(ENOSPC_CHILD, args, env)
    assert full.returncode == 8, (full.stdout, full.stderr[-2000:])
    assert FileSystemCache(cache).state("k").kind == "absent"
    sim.clear()
    done = tokacq(env, *args)
    assert done.returncode == 0, done.stderr
    assert cache_problems(cache) == []
    # Every file was verified and stored before the manifest failed: none comes again.
    assert [r.file for r in sim.requests if r.served_body and r.bytes_sent > 1] == []
    prune = tokacq(env, "cache", "prune", "--partials", "--cache-dir", str(cache))
    assert prune.returncode == 0, prune.stderr
    assert leftovers(cache) == [] and unlinked_snapshots(cache) == []


def test_killed_after_fsync_before_rename_is_not_downloaded_again(
        sim: HubSimulator, tmp_path: Path) -> None:
    """SIGKILL after a file's fsync, before its rename: the rerun does not fetch its body."""
    repo = "org/fsynced"
    sim.add_repo_from_dir(repo, MINILM)
    calls = _count_calls(sim, tmp_path, repo)
    into_blobs = [i for i, c in enumerate(calls, 1)
                  if c[0] == "replace" and "/blobs/" in c[-1]]
    assert len(into_blobs) == 4, calls
    n = into_blobs[0]
    assert any(c[0] in ("fsync", "fdatasync") for c in calls[: n - 1]), calls
    digest = Path(calls[n - 1][-1]).name
    file = next(f for f, d in commit_digests(sim, repo, sim.commit_for(repo)).items()
                if d == digest)
    cache = tmp_path / "cache"
    _kill_at(sim, cache, repo, n, tmp_path)
    sim.clear()
    out = _rerun(sim, cache, repo, tmp_path, "--no-verify")
    assert out["ok"], out
    # Old model: the complete, verified partial was downloaded again from byte 0.
    assert all(r.bytes_sent <= 1 for r in sim.file_gets(file, repo)), sim.file_gets(file, repo)
    assert cache_problems(cache) == []


# -- reproduction 10 --------------------------------------------------------------------------

def _umask(mask: int) -> Callable[[], None]:
    def apply() -> None:
        os.umask(mask)
    return apply


@pytest.mark.skipif(SETPRIV is None or os.geteuid() != 0, reason="needs root and setpriv")
def test_umask_022_modes_and_a_root_cache_read_by_another_user(sim: HubSimulator) -> None:
    """Under umask 022 files are 0644, dirs 0755; uid 65534 serves root's cache offline."""
    repo = "org/shared"
    sim.add_repo_from_dir(repo, MINILM)
    top = Path(tempfile.mkdtemp(prefix="tokacq-shared-", dir="/tmp"))
    try:
        top.chmod(0o755)
        cache, home = top / "cache", top / "home"
        home.mkdir()
        env = env_for(sim, home)
        fetch = ["fetch", repo, "--cache-dir", str(cache), "--cache-key", "k",
                 *[a for f in FOUR for a in ("-f", f)], "--json"]
        for args in (fetch, ["lock", repo, "-o", str(top / "tokenizers.lock"), "--cache-dir",
                             str(cache)]):
            done = subprocess.run([str(TOKACQ), *args], env=env, capture_output=True,
                                  text=True, timeout=60, preexec_fn=_umask(0o022))
            assert done.returncode == 0, done.stderr
        modes = modes_under(cache)
        modes[top / "tokenizers.lock"] = stat.S_IMODE(os.stat(top / "tokenizers.lock").st_mode)
        wrong = {str(p): oct(m) for p, m in modes.items()
                 if m != (0o755 if p.is_dir() and not p.is_symlink() else 0o644)}
        # Old model: manifests and lock files were created 0600 (mkstemp).
        assert wrong == {}
        nobody_home = top / "nobody"
        nobody_home.mkdir()
        os.chown(nobody_home, NOBODY, NOBODY)
        as_nobody = [str(SETPRIV), f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        nobody_env = env_for(sim, nobody_home)
        for extra in (["--offline"], ["--strategy", "cache-only"], []):
            done = subprocess.run([*as_nobody, str(TOKACQ), *fetch, *extra], env=nobody_env,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, (extra, done.stderr)
            assert served_files(json.loads(done.stdout)) == {
                f: sha256((MINILM / f).read_bytes()) for f in FOUR}
    finally:
        shutil.rmtree(top, ignore_errors=True)


# -- reproduction 11 --------------------------------------------------------------------------

def test_a_bookkeeping_symlink_is_refused(sim: HubSimulator, tmp_path: Path) -> None:
    """A .tokacq that is a symlink: CacheWriteError (exit 8) naming it; the target untouched."""
    sim.add_repo_from_dir("org/link", MINILM)
    cache, elsewhere = tmp_path / "cache", tmp_path / "elsewhere"
    cache.mkdir()
    elsewhere.mkdir()
    (cache / ".tokacq").symlink_to(elsewhere)
    env = env_for(sim, tmp_path)
    for strategy in ("hybrid", "network"):
        done = tokacq(env, "fetch", "org/link", "--cache-dir", str(cache), "--cache-key", "k",
                      "--strategy", strategy)
        # Old model: manifests, locks and partials went into the link's target.
        assert done.returncode == 8, (strategy, done.stdout, done.stderr)
        assert str(cache / ".tokacq") in done.stderr, done.stderr
    assert list(elsewhere.iterdir()) == []
    assert not (cache / "k").exists()


# -- reproduction 12 --------------------------------------------------------------------------

def _damage(manifest: Path, how: str) -> None:
    if how == "truncated":
        manifest.write_bytes(manifest.read_bytes()[: manifest.stat().st_size // 2])
    elif how == "empty":
        manifest.write_bytes(b"")
    else:
        manifest.chmod(0o000)


@pytest.mark.parametrize("how", ["unreadable", "truncated", "empty"])
def test_a_damaged_manifest_is_never_placed_by_hand(sim: HubSimulator, tmp_path: Path,
                                                    how: str) -> None:
    """An unreadable/truncated/empty manifest: cache-only misses (3), network re-downloads."""
    prefix = without_root_powers()
    if how == "unreadable" and os.geteuid() == 0 and SETPRIV is None:
        pytest.skip("root without setpriv reads a mode 000 file")
    repo = "org/damaged"
    sim.add_repo_from_dir(repo, MINILM)
    cache, env = tmp_path / "cache", env_for(sim, tmp_path)
    args = ["fetch", repo, "--cache-dir", str(cache), "--cache-key", "k",
            *[a for f in FOUR for a in ("-f", f)], "--json"]
    assert tokacq(env, *args).returncode == 0
    before = FileSystemCache(cache).state("k")
    assert before.sid is not None
    manifest = cache / ".tokacq" / "snapshots" / "k" / f"{before.sid}.json"
    _damage(manifest, how)
    sim.clear()
    run_prefix = prefix if how == "unreadable" else []
    only = tokacq(env, *args, "--strategy", "cache-only", prefix=run_prefix)
    # Old model: with no readable manifest the files were "placed by hand": exit 0.
    assert only.returncode == 3, (only.stdout, only.stderr)
    net = tokacq(env, *args, "--strategy", "network", prefix=run_prefix)
    assert net.returncode == 0, net.stderr
    assert served_files(json_out(net)) == {f: sha256((MINILM / f).read_bytes()) for f in FOUR}
    after = FileSystemCache(cache).state("k")
    assert after.sid != before.sid and after.snapshot is not None
    assert sorted(after.snapshot.files) == sorted(FOUR)
    assert {r.file for r in sim.requests if r.served_body} == set(FOUR)
    manifest.chmod(0o644)


# -- the kill-point sweep ---------------------------------------------------------------------

def _sweep_one(sim: HubSimulator, base: Path, calls: list[list[str]], n: int, moved: bool
               ) -> list[str]:
    """Kill a fresh acquisition at call ``n``, rerun, check; the failures found."""
    repo = f"org/sweep-{'moved' if moved else 'still'}-{n}"
    c1 = sim.add_repo_from_dir(repo, MINILM)
    cache, home = base / f"{'moved' if moved else 'still'}-{n}", base / "home"
    _kill_at(sim, cache, repo, n, home)
    stored = blob_names(cache)
    before = len(sim.file_gets("tokenizer.json", repo)), {
        f: len(sim.file_gets(f, repo)) for f in FOUR}
    c2 = sim.replace_file(repo, "tokenizer_config.json", same_size_variant(CONFIG)) \
        if moved else c1
    out = _rerun(sim, cache, repo, home)
    where = f"kill at call {n} ({calls[n - 1][0]} {calls[n - 1][-1].rsplit('/', 2)[-2:]})" \
            f"{' then a new commit' if moved else ''}"
    problems: list[str] = []
    if not out.get("ok"):
        return [f"{where}: rerun failed: {out}"]
    commit = out["commit"]
    if commit not in (c1, c2):
        problems.append(f"{where}: result.commit {commit} is neither {c1} nor {c2}")
    else:
        expected = commit_digests(sim, repo, commit)
        got = served_files(out)
        if got != {f: expected[f] for f in FOUR}:
            problems.append(f"{where}: served bytes are not all of {commit}: {got}")
        for file in FOUR:
            fetched = [r for r in sim.file_gets(file, repo)[before[1][file]:]
                       if r.bytes_sent > 1]
            if expected[file] in stored and fetched:
                problems.append(f"{where}: {file} was stored before the kill, fetched again")
    if cache_problems(cache):
        problems.append(f"{where}: cache: {cache_problems(cache)}")
    verify = out.get("verify", {})
    if verify.get("code") != 0 or any(
            line.split(maxsplit=1)[0] in ("corrupt", "missing", "unreadable", "unverified")
            for line in verify.get("output", "").lower().splitlines() if line.strip()):
        problems.append(f"{where}: cache verify: {verify}")
    return problems


@pytest.mark.timeout(180)  # ~30 s each on 2 cores: 2 x 28 children, two at a time
@pytest.mark.parametrize("moved", [False, True], ids=["same-commit", "repo-moved"])
def test_kill_point_sweep(sim: HubSimulator, tmp_path: Path, moved: bool,
                          results: Results) -> None:
    """SIGKILL at every replace/rename/link/symlink/fsync of a 4-file set; reruns are clean."""
    repo = "org/sweep-count"
    sim.add_repo_from_dir(repo, MINILM)
    calls = _count_calls(sim, tmp_path, repo)
    assert 10 <= len(calls) <= 200, calls
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = list(pool.map(lambda n: _sweep_one(sim, tmp_path, calls, n, moved),
                              range(1, len(calls) + 1)))
    problems = [p for one in found for p in one]
    results.add(f"SIGKILL at each of the {len(calls)} publication steps of a 4-file set"
                f"{', new commit before the rerun' if moved else ''}", runs=len(found),
                passed=sum(not one for one in found), command=COMMAND)
    assert time.monotonic() - started < 90, "the sweep took too long"
    # Old model: kills between file placements left a mix; a kill before the manifest
    # left files unrecorded.
    assert problems == [], "\n".join(problems)


# -- property: two writers of different commits, one reader ----------------------------------

@pytest.fixture(scope="module")
def property_sim() -> Iterator[tuple[HubSimulator, dict[str, dict[str, str]]]]:
    with HubSimulator().run_in_thread() as simulator:
        c1 = simulator.add_repo_from_dir("org/prop", MINILM)
        c2 = simulator.replace_file("org/prop", "tokenizer_config.json",
                                    same_size_variant(CONFIG))
        c3 = simulator.replace_file("org/prop", "vocab.txt",
                                    same_size_variant((MINILM / "vocab.txt").read_bytes()))
        sets = {c: {f: d for f, d in commit_digests(simulator, "org/prop", c).items()
                    if f in FOUR} for c in (c1, c2, c3)}
        yield simulator, sets


def _writer(sim: HubSimulator, root: Path, commits: list[str], pause: float) -> None:
    async def main() -> None:
        strategy = NetworkAcquisition(root, endpoint=sim.endpoint, trust_env=False,
                                      lock=NoLock(), max_retries=2,
                                      backoff=Backoff(base=0.001, cap=0.01))
        try:
            for commit in commits:
                await asyncio.sleep(pause)
                await strategy.acquire(TokenizerDownloadInfo("org/prop", "k", FOUR,
                                                             revision=commit))
        finally:
            await strategy.aclose()
    asyncio.run(main())


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(first=st.lists(st.integers(0, 2), min_size=1, max_size=3),
       second=st.lists(st.integers(0, 2), min_size=1, max_size=3),
       pauses=st.tuples(st.floats(0, 0.02), st.floats(0, 0.02)),
       slow=st.sampled_from([None, *FOUR]))
def test_two_writers_and_a_reader_see_whole_sets(
        property_sim: tuple[HubSimulator, dict[str, dict[str, str]]],
        first: list[int], second: list[int], pauses: tuple[float, float],
        slow: str | None) -> None:
    """Two lock-less writers of different commits, one reader: only whole sets are seen."""
    sim, sets = property_sim
    sim.clear_faults()
    if slow is not None:  # one file's downloads take longer: publications straddle more
        sim.inject(SlowDrip(chunk_size=64 * 1024, delay_s=0.003), path=slow, times=2)
    commits = sorted(sets)
    seen: list[str] = []
    errors: list[BaseException] = []
    with tempfile.TemporaryDirectory(prefix="tokacq-prop-") as tmp:
        root = Path(tmp)
        writers = [threading.Thread(target=_wrap(errors, _writer, sim, root,
                                                 [commits[i] for i in plan], pause))
                   for plan, pause in zip((first, second), pauses, strict=True)]
        done = threading.Event()

        def read() -> None:
            reader = CacheOnlyAcquisition(root)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                last = done.is_set()
                for commit in commits:  # a hit for a commit must be exactly its set
                    try:
                        result = asyncio.run(reader.acquire(TokenizerDownloadInfo(
                            "org/prop", "k", FOUR, revision=commit)))
                    except Exception as error:  # a miss: another commit's set, or none
                        if type(error).__name__ != "TokenizerNotFound":
                            errors.append(error)
                            return
                        continue
                    digests = {f: file_sha(p) for f, p in result.files.items()}
                    if digests != sets[commit] or result.commit != commit:
                        errors.append(AssertionError(
                            f"asked {commit}, served {result.commit}: {digests}"))
                        return
                    seen.append(commit)
                if last:
                    return

        reader_thread = threading.Thread(target=read)
        reader_thread.start()
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(30)
        done.set()
        reader_thread.join(30)
        # Old model: files of both commits were placed one by one into the same directory.
        assert errors == [], errors
        assert seen, "the reader never saw a set"
        assert cache_problems(root) == []


def _wrap(errors: list[BaseException], target: Callable[..., None], *args: Any
          ) -> Callable[[], None]:
    def run() -> None:
        try:
            target(*args)
        except BaseException as error:
            errors.append(error)
    return run
