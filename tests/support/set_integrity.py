"""Helpers for the issue-9 tests: real tokacq processes, kill points, one-commit checks."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
from tokenizer_acquisition.testing import HubSimulator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MINILM = FIXTURES / "sentence-transformers" / "all-MiniLM-L6-v2"
FOUR = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
TOKACQ = Path(sys.executable).with_name("tokacq")
_DROP = ("TOKACQ_", "HF_", "HUGGING_FACE_", "TRANSFORMERS_")
_PROXIES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
#: Leftovers ``cache prune --partials`` must remove.
TEMPORARY_SUFFIXES = (".tokacq-tmp", ".tokacq-set", ".tokacq-partial")


def env_for(sim: HubSimulator | None, home: Path, **extra: str) -> dict[str, str]:
    """The machine's environment without Hub settings, tokens or proxies; the simulator
    as endpoint."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_DROP) and k.lower() not in _PROXIES}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / "xdg"), HF_HOME=str(home / "hf"),
               NO_PROXY="127.0.0.1,127.0.0.2,localhost")
    if sim is not None:
        env["HF_ENDPOINT"] = sim.endpoint
    env.update(extra)
    return env


def tokacq(env: Mapping[str, str], *args: str, timeout: float = 60,
           prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, str(TOKACQ), *args], env=dict(env), capture_output=True,
                          text=True, timeout=timeout)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha(path: Path | str) -> str:
    return sha256(Path(path).read_bytes())


def commit_digests(sim: HubSimulator, repo: str, commit: str) -> dict[str, str]:
    """Every file of ``commit`` in the simulator: name -> sha256."""
    stored = sim._state.store.repo(repo)
    assert stored is not None, repo
    return {name: f.sha256 for name, f in stored.commits[commit].files.items()}


def same_size_variant(data: bytes) -> bytes:
    """``data`` with one letter changed: same size, other bytes (still valid JSON)."""
    for index, byte in enumerate(data):
        if chr(byte).isalpha() and index > 10:
            swapped = b"x" if byte != ord("x") else b"y"
            return data[:index] + swapped + data[index + 1:]
    raise ValueError("no letter to change")


def json_out(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def served_files(document: Mapping[str, Any]) -> dict[str, str]:
    """name -> sha256 of what a ``tokacq fetch --json`` result (or lock result) serves."""
    results = document.get("results") or [document]
    out: dict[str, str] = {}
    for result in results:
        for name, path in result["files"].items():
            out[name] = file_sha(path)
    return out


def cache_problems(root: Path) -> list[str]:
    """What ``cache verify`` must find clean, checked through ``FileSystemCache``: every
    managed key has a readable manifest recording every file its snapshot shows, with
    the recorded bytes."""
    cache = FileSystemCache(root)
    problems: list[str] = []
    if not root.is_dir():
        return problems
    for name in sorted(os.listdir(root)):
        if name.startswith("."):
            continue
        state = cache.state(name)
        if state.kind != "managed":
            continue
        if state.snapshot is None:
            problems.append(f"{name}: manifest unreadable ({state.problem})")
            continue
        shown = sorted(str(p.relative_to(state.directory))
                       for p in state.directory.rglob("*") if p.is_file())
        for file in shown:
            if file not in state.snapshot.files:
                problems.append(f"{name}/{file}: shown but not recorded")
        for file, entry in state.snapshot.files.items():
            path = state.directory / file
            if not path.is_file():
                problems.append(f"{name}/{file}: recorded but missing")
            elif file_sha(path) != entry.sha256:
                problems.append(f"{name}/{file}: corrupt")
    return problems


def leftovers(root: Path) -> list[Path]:
    """Temporary files, journals and partials anywhere in the cache's bookkeeping."""
    book = root / ".tokacq"
    if not book.is_dir():
        return []
    return sorted(p for p in book.rglob("*")
                  if p.name.endswith(TEMPORARY_SUFFIXES) or ".tokacq-tmp" in p.name)


def unlinked_snapshots(root: Path) -> list[Path]:
    """Snapshot directories of a key that no key link shows, nor has a manifest."""
    base = root / ".tokacq" / "snapshots"
    out = []
    if not base.is_dir():
        return out
    for key_dir in base.iterdir():
        for entry in key_dir.iterdir():
            if entry.is_dir() and not entry.with_name(f"{entry.name}.json").exists():
                out.append(entry)
    return out


def blob_names(root: Path) -> set[str]:
    blobs = root / ".tokacq" / "blobs"
    return set(os.listdir(blobs)) if blobs.is_dir() else set()


def modes_under(root: Path) -> dict[Path, int]:
    """Permission bits of every file and directory under ``root`` (links not followed)."""
    out: dict[Path, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            path = Path(dirpath) / name
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            out[path] = stat.S_IMODE(st.st_mode)
    return out


#: A child acquiring ``files`` of ``repo`` into ``key``; the Nth of the calls that make a
#: set durable or visible (replace, rename, link, symlink, fsync, fdatasync) SIGKILLs it
#: before it happens. N=0: no kill; prints the calls it made, one JSON line.
KILL_CHILD = r"""
import asyncio, json, os, signal, sys, threading

cache, endpoint, repo, key, kill_at, *files = sys.argv[1:]
kill_at = int(kill_at)
calls = []
guard = threading.Lock()

def wrap(name):
    real = getattr(os, name)
    def wrapper(*args, **kwargs):
        with guard:
            calls.append([name, *[str(a) for a in args[:2] if not isinstance(a, int)]])
            if len(calls) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    setattr(os, name, wrapper)

for name in ("replace", "rename", "link", "symlink", "fsync", "fdatasync"):
    if hasattr(os, name):
        wrap(name)

from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.download_policy import Backoff
from tokenizer_acquisition.strategies import NetworkAcquisition

async def main():
    strategy = NetworkAcquisition(cache, endpoint=endpoint, trust_env=False, max_retries=2,
                                  max_concurrent_files=1,
                                  backoff=Backoff(base=0.001, cap=0.01))
    try:
        result = await strategy.acquire(TokenizerDownloadInfo(repo, key, tuple(files)))
    finally:
        await strategy.aclose()
    return result

result = asyncio.run(main())
print(json.dumps({"calls": calls, "commit": result.commit,
                  "files": {n: str(p) for n, p in result.files.items()}}), flush=True)
"""

#: A clean acquisition in a fresh process, then ``tokacq cache verify`` in the same one;
#: prints one JSON line: the result (or error) and verify's exit code and output.
RERUN_CHILD = r"""
import asyncio, contextlib, io, json, sys

cache, endpoint, repo, key, strategy_name, *files = sys.argv[1:]
files = [f for f in files if f != "--no-verify"]

from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.download_policy import Backoff
from tokenizer_acquisition.domain.errors import AcquisitionError
from tokenizer_acquisition.strategies import CacheOnlyAcquisition, NetworkAcquisition

async def main():
    if strategy_name == "cache-only":
        strategy = CacheOnlyAcquisition(cache)
    else:
        strategy = NetworkAcquisition(cache, endpoint=endpoint, trust_env=False,
                                      max_retries=2, backoff=Backoff(base=0.001, cap=0.01))
    try:
        result = await strategy.acquire(TokenizerDownloadInfo(repo, key, tuple(files)))
        return {"ok": True, "commit": result.commit,
                "files": {n: str(p) for n, p in result.files.items()}}
    except AcquisitionError as error:
        return {"ok": False, "type": type(error).__name__, "message": str(error)}
    finally:
        await strategy.aclose()

out = asyncio.run(main())
if "--no-verify" not in sys.argv:
    from tokenizer_acquisition.entrypoints.cli import main as cli
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        try:
            code = cli(["cache", "verify", "--cache-dir", cache])
        except SystemExit as exit:
            code = exit.code
        except BaseException as error:
            code, _ = 1, text.write(repr(error))
    out["verify"] = {"code": code, "output": text.getvalue()[-2000:]}
print(json.dumps(out), flush=True)
"""


def run_child(code: str, args: Sequence[str], env: Mapping[str, str], timeout: float = 60
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], env=dict(env),
                          capture_output=True, text=True, timeout=timeout)


def last_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any] | None:
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            parsed: dict[str, Any] = json.loads(line)
            return parsed
    return None
