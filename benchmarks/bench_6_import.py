"""6. Import cost in a clean install, and what a cache-only hit loads.

Measured in a clean virtual environment made by ``pip install '.[downloads]'`` (what a
service installs: no rich, no PyYAML, no test tools), kept under ``benchmarks/.data/``
and rebuilt only when the dependencies change. Each run copies the current ``src/``
into it as the installed ``tokenizer_acquisition`` package (the layout the wheel has), so
the figures are of this tree without a rebuild.

Interleaved, ~15 runs each, from an empty directory: ``python -c pass``, ``python -c
"import tokenizer_acquisition"``, and a whole cache-only hit process (import, then
``SmartTokenizerDownload.cache_only(...).download_tokenizer_sync(...)`` of a cached set).
``import huggingface_hub`` from the development environment is the peer. Then a fresh
process reports which heavy modules the cache-only hit loaded.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .common import (
    DATA_DIR,
    PYTHON,
    REPO_ROOT,
    Context,
    Outcome,
    Target,
    child_env,
    fmt_ratio,
    fmt_time,
    median,
    run_worker,
    silenced,
)
from .data import SET_FILES, SMALL_REPO, small_files
from .sim_process import SimProcess

TITLE = "Import time in a clean install, and modules loaded by a cache-only hit"
VENV = DATA_DIR / "import-venv"
RUN_TIMEOUT_S = 60
INSTALL_TIMEOUT_S = 900
IMPORT_LIMIT_S = 0.050
HIT_LIMIT_S = 0.080
HIT = ("import sys\n"
       "from tokenizer_acquisition import SmartTokenizerDownload, TokenizerDownloadInfo\n"
       "cache, repo, key, *files = sys.argv[1:]\n"
       "SmartTokenizerDownload.cache_only(cache).download_tokenizer_sync(\n"
       "    TokenizerDownloadInfo(repo, key, tuple(files)))\n")


def run(ctx: Context) -> Outcome:
    runs = 5 if ctx.quick else 15
    python = clean_venv()
    empty = ctx.workdir("b6-cwd")
    cache = ctx.workdir("b6-cache")
    with silenced():
        asyncio.run(_fill(cache))
    env = _venv_env()
    hit_args = [str(cache), SMALL_REPO, "minilm", *SET_FILES]
    plan: list[tuple[str, str, str | Path, list[str], dict[str, str]]] = [
            ("pass", "python -c pass (clean venv)", python, ["-c", "pass"], env),
            ("import", "import tokenizer_acquisition (clean venv)", python,
             ["-c", "import tokenizer_acquisition"], env),
            ("hit", "cache-only hit process: import + cache_only(...).download_tokenizer_sync"
                    " (clean venv)", python, ["-c", HIT, *hit_args], env),
            ("hf", "import huggingface_hub (peer, development venv)", PYTHON,
             ["-c", "import huggingface_hub"], child_env()),
            ("dev_pass", "python -c pass (development venv)", PYTHON, ["-c", "pass"],
             child_env())]
    for _, _, exe, argv, run_env in plan:  # warm-up: bytecode cache, page cache
        _time(exe, argv, empty, run_env)
    times: dict[str, list[float]] = {key: [] for key, *_ in plan}
    deadline = time.perf_counter() + (30 if ctx.quick else 120)
    for _ in range(runs):
        for key, _, exe, argv, run_env in plan:
            times[key].append(_time(exe, argv, empty, run_env))
        if time.perf_counter() > deadline:
            break
    m = {key: median(v) for key, v in times.items()}
    base = {"pass": m["pass"], "import": m["pass"], "hit": m["pass"], "hf": m["dev_pass"],
            "dev_pass": m["dev_pass"]}
    rows = [[label, fmt_time(m[key]), fmt_time(m[key] - base[key]),
             fmt_ratio(m[key] / base[key]), str(len(times[key]))]
            for key, label, *_ in plan]
    args = {"cache_dir": str(cache), "repo": SMALL_REPO, "files": list(SET_FILES),
            "cache_key": "minilm"}
    run_worker("cache_only_modules", args)  # warm-up (bytecode cache)
    report = run_worker("cache_only_modules", args)
    loaded = report["loaded"]
    heavy = ", ".join(name for name, present in loaded.items() if present) or "none"
    absent = ", ".join(name for name, present in loaded.items() if not present) or "none"
    imported, hit = m["import"] - m["pass"], m["hit"] - m["pass"]
    return Outcome(6, TITLE, ["command", "median wall time", "above 'pass'", "vs 'pass'",
                              "runs"], rows,
                   [Target(f"import tokenizer_acquisition at most "
                           f"{IMPORT_LIMIT_S * 1000:.0f} ms over bare Python (clean venv)",
                           imported <= IMPORT_LIMIT_S, f"{fmt_time(imported)} over"),
                    Target(f"a cache-only hit process at most {HIT_LIMIT_S * 1000:.0f} ms "
                           "over bare Python (clean venv)", hit <= HIT_LIMIT_S,
                           f"{fmt_time(hit)} over"),
                    Target("a cache-only acquisition does not import aiohttp",
                           not loaded["aiohttp"],
                           "aiohttp imported" if loaded["aiohttp"] else "aiohttp not imported")],
                   [f"Clean venv: {VENV.relative_to(REPO_ROOT)} (pip install '.[downloads]', "
                    "then the current src/ copied in as the installed package).",
                    f"Loaded by the cache-only acquisition (development venv): {heavy}; not "
                    f"loaded: {absent}; {report['modules']} modules in all.",
                    "Wall time of the whole interpreter run (start-up included), from an "
                    "empty working directory, after one untimed warm-up run each; bytecode "
                    "cached as an installed wheel has it."])


def clean_venv() -> Path:
    """The clean venv's python: made once per dependency set, the package refreshed."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".deps-stamp"
    wanted = _deps_stamp()
    if not (python.exists() and stamp.is_file() and stamp.read_text() == wanted):
        print(f"  building the clean venv for the import benchmark in {VENV} ...", flush=True)
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True,
                       timeout=INSTALL_TIMEOUT_S)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", f"{REPO_ROOT}[downloads]"],
                       check=True, timeout=INSTALL_TIMEOUT_S, cwd=VENV)
        stamp.write_text(wanted)
    site = next((VENV / "lib").glob("python*/site-packages"))
    installed = site / "tokenizer_acquisition"
    shutil.rmtree(installed, ignore_errors=True)
    shutil.copytree(REPO_ROOT / "src", installed,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return python


def _deps_stamp() -> str:
    """What the venv depends on: the project's metadata and this Python."""
    text = (REPO_ROOT / "pyproject.toml").read_bytes() + sys.version.encode()
    return hashlib.sha256(text).hexdigest()


def _venv_env() -> dict[str, str]:
    env = child_env()
    env.pop("PYTHONPATH", None)  # nothing of the development tree
    env["VIRTUAL_ENV"] = str(VENV)
    return env


def _time(python: str | os.PathLike[str], argv: list[str], cwd: Path,
          env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(python), *argv], cwd=cwd, env=env, check=True,
                   timeout=RUN_TIMEOUT_S, capture_output=True)
    return time.perf_counter() - started


async def _fill(cache: Path) -> None:
    """Put the set in the cache the way a first run would, so the check is a real hit."""
    from tokenizer_acquisition import SmartTokenizerDownload, TokenizerDownloadInfo

    with SimProcess({SMALL_REPO: small_files()}) as sim:
        async with SmartTokenizerDownload.with_downloads(cache, endpoint=sim.endpoint,
                                                         trust_env=False) as downloader:
            await downloader.acquire(TokenizerDownloadInfo(SMALL_REPO, "minilm", SET_FILES))
