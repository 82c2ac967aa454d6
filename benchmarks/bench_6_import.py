"""6. Import cost, and what a cache-only acquisition loads.

``python -c "import tokenizer_acquisition"`` against ``python -c pass`` (and against
``import huggingface_hub`` as the peer), each run ~15 times, interleaved, from an empty
directory; then a fresh process does a cache-only acquisition of a cached set and
reports which heavy modules ended up in ``sys.modules``.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

from .common import (
    PYTHON,
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

TITLE = "Import time, and modules loaded by a cache-only acquisition"
STATEMENTS = (("pass", "python -c pass"),
              ("import tokenizer_acquisition", "import tokenizer_acquisition"),
              ("import huggingface_hub", "import huggingface_hub (peer)"))
RUN_TIMEOUT_S = 60


def run(ctx: Context) -> Outcome:
    runs = 5 if ctx.quick else 15
    empty = ctx.workdir("b6-cwd")
    cached, uncached = child_env(), child_env()
    del uncached["PYTHONPYCACHEPREFIX"]
    uncached["PYTHONDONTWRITEBYTECODE"] = "1"
    plan = [(stmt, label, cached) for stmt, label in STATEMENTS]
    plan.append((STATEMENTS[1][0], f"{STATEMENTS[1][1]}, no bytecode cache for src/", uncached))
    for stmt, _, env in plan:  # warm-up: fills the bytecode cache, warms the page cache
        _time(stmt, empty, env)
    times: list[list[float]] = [[] for _ in plan]
    deadline = time.perf_counter() + (30 if ctx.quick else 120)
    for _ in range(runs):
        for i, (stmt, _, env) in enumerate(plan):
            times[i].append(_time(stmt, empty, env))
        if time.perf_counter() > deadline:
            break
    m = [median(t) for t in times]
    rows = [[label, fmt_time(m[i]), fmt_time(m[i] - m[0]), fmt_ratio(m[i] / m[0]),
             str(len(times[i]))] for i, (_, label, _) in enumerate(plan)]
    cache = ctx.workdir("b6-cache")
    with silenced():
        asyncio.run(_fill(cache))
    args = {"cache_dir": str(cache), "repo": SMALL_REPO, "files": list(SET_FILES),
            "cache_key": "minilm"}
    run_worker("cache_only_modules", args)  # warm-up (bytecode cache)
    report = run_worker("cache_only_modules", args)
    loaded = report["loaded"]
    rows.append(["fresh process: import + SmartTokenizerDownload.cache_only(...)"
                 ".download_tokenizer_sync(...)", fmt_time(report["seconds"]), "-", "-", "1"])
    heavy = ", ".join(name for name, present in loaded.items() if present) or "none"
    absent = ", ".join(name for name, present in loaded.items() if not present) or "none"
    return Outcome(6, TITLE, ["command", "median wall time", "above 'pass'", "vs 'pass'",
                              "runs"], rows,
                   [Target("a cache-only acquisition does not import aiohttp",
                           not loaded["aiohttp"],
                           "aiohttp imported" if loaded["aiohttp"] else "aiohttp not imported")],
                   [f"Loaded by the cache-only acquisition: {heavy}; not loaded: {absent}; "
                    f"{report['modules']} modules in all.",
                    "Wall time of the whole interpreter run (start-up included), from an "
                    "empty working directory, after one untimed warm-up run each.",
                    "Bytecode is cached in a temporary PYTHONPYCACHEPREFIX, as an installed "
                    "wheel would have it; the last row runs with PYTHONDONTWRITEBYTECODE=1 "
                    "and no cache for the project's sources (site-packages keep theirs)."])


def _time(statement: str, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([PYTHON, "-c", statement], cwd=cwd, env=env, check=True,
                   timeout=RUN_TIMEOUT_S, capture_output=True)
    return time.perf_counter() - started


async def _fill(cache: Path) -> None:
    """Put the set in the cache the way a first run would, so the check is a real hit."""
    from tokenizer_acquisition import SmartTokenizerDownload, TokenizerDownloadInfo

    with SimProcess({SMALL_REPO: small_files()}) as sim:
        async with SmartTokenizerDownload.with_downloads(cache, endpoint=sim.endpoint,
                                                         trust_env=False) as downloader:
            await downloader.acquire(TokenizerDownloadInfo(SMALL_REPO, "minilm", SET_FILES))
