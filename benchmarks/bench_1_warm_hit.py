"""1. Warm cache hit, per call, for the cached 4-file MiniLM tokenizer set.

This project's ``download_tokenizer`` (the ``with_downloads`` facade: cache first, then
network) against ``hf_hub_download`` (online: one HEAD per file), against
``try_to_load_from_cache`` (offline lookup, one call per file) and against a bare
``os.stat`` of the same four files, the limit. One "call" fetches the whole set. Per-call
time is the median of batch means.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from .common import Context, Outcome, Target, abatch_means, batch_means, fmt_ratio, fmt_time, median
from .data import SET_FILES, SMALL_REPO, small_files
from .sim_process import SimProcess

TITLE = "Warm cache hit per call (4-file MiniLM set)"


def run(ctx: Context) -> Outcome:
    fast = (10, 50, 10.0) if ctx.quick else (20, 100, 30.0)  # batches, size, budget
    slow = (3, 5, 10.0) if ctx.quick else (20, 10, 40.0)
    ours_dir, hf_dir = ctx.workdir("b1-ours"), ctx.workdir("b1-hf")
    with SimProcess({SMALL_REPO: small_files()}) as sim:
        ours, paths = asyncio.run(_ours(sim, ours_dir, fast, ctx.profile))
        hf, tlfc = _hf(sim, hf_dir, fast, slow)
        heads = sum(sim.summary()["heads"].values())
    stats = batch_means(lambda: [os.stat(p) for p in paths], batches=fast[0], size=fast[1],
                        budget_s=fast[2])
    means_of = {key: means for key, (means, _) in ours.items()}
    means_of |= {"hf": hf, "tlfc": tlfc, "stat": stats}
    m = {key: median(means) for key, means in means_of.items()}
    base = m["default"]

    def row(key: str, label: str, size: int, requests: str) -> list[str]:
        means = means_of[key]
        return [label, fmt_time(m[key]), f"{len(means)} x {size}", requests,
                fmt_ratio(m[key] / base)]

    rows = [
        row("default", "this project, with_downloads, structlog unconfigured (default)",
            fast[1], str(ours["default"][1])),
        row("info", "this project, with_downloads, structlog filtered at INFO", fast[1],
            str(ours["info"][1])),
        row("cache_only", "this project, cache_only, structlog filtered at INFO", fast[1],
            str(ours["cache_only"][1])),
        row("hf", "hf_hub_download x4 (online)", slow[1], f"{heads} HEAD in all"),
        row("tlfc", "try_to_load_from_cache x4", fast[1], "0"),
        row("stat", "os.stat x4 (the limit)", fast[1], "0"),
    ]
    targets = []
    for key, label in (("default", "structlog unconfigured"), ("info", "structlog at INFO")):
        targets += [
            Target(f">= 100x faster than hf_hub_download ({label})", m["hf"] / m[key] >= 100,
                   fmt_ratio(m["hf"] / m[key])),
            Target(f">= 3x faster than try_to_load_from_cache ({label})",
                   m["tlfc"] / m[key] >= 3, fmt_ratio(m["tlfc"] / m[key])),
            Target(f"within 6x of bare os.stat ({label})", m[key] / m["stat"] <= 6,
                   f"{fmt_ratio(m[key] / m['stat'])} the time of the stats"),
        ]
    during = sum(n for _, n in ours.values())
    targets.append(Target("no HTTP request on a hit", during == 0,
                          f"{during} requests during the timed hits"))
    return Outcome(1, TITLE, ["client", "median per call", "batches x calls",
                              "requests while timed", "time / ours (default)"], rows, targets,
                   notes=[
                       "One call = the whole 4-file set (the peers call once per file).",
                       "Medians of batch means; the last column is each row's time divided "
                       "by the first row's.",
                       "Unconfigured structlog prints every event, so each hit writes two "
                       "debug lines to stdout (sent to /dev/null here); a service that "
                       "configures structlog with an INFO filter drops them early.",
                   ])


async def _ours(sim: SimProcess, cache: Path, plan: tuple[int, int, float], profile: bool
                ) -> tuple[dict[str, tuple[list[float], int]], list[Path]]:
    import structlog

    from tokenizer_acquisition import SmartTokenizerDownload, TokenizerDownloadInfo

    info = TokenizerDownloadInfo(SMALL_REPO, "minilm", SET_FILES)
    batches, size, budget = plan
    out: dict[str, tuple[list[float], int]] = {}

    async def measure(key: str, downloader: SmartTokenizerDownload) -> None:
        for _ in range(size):  # warm-up
            await downloader.download_tokenizer(info)
        sim.clear()
        means = await abatch_means(lambda: downloader.download_tokenizer(info),
                                   batches=batches, size=size, budget_s=budget)
        out[key] = (means, sim.summary()["total"])

    try:
        async with SmartTokenizerDownload.with_downloads(cache, endpoint=sim.endpoint,
                                                         trust_env=False) as downloader:
            with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
                result = await downloader.acquire(info)  # the cold fill, not timed
                await measure("default", downloader)
            if result.from_cache:
                raise RuntimeError("the first acquisition should have downloaded")
            structlog.configure(
                wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
            await measure("info", downloader)
            if profile:
                await _profile(lambda: downloader.download_tokenizer(info))
        await measure("cache_only", SmartTokenizerDownload.cache_only(cache))
    finally:
        structlog.reset_defaults()
    return out, [result.files[f] for f in SET_FILES]


async def _profile(call: object) -> None:
    """Print where a hit's time goes (``--profile``)."""
    import cProfile
    import pstats

    assert callable(call)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(2000):
        await call()
    profiler.disable()
    print("\n  cProfile of 2000 hits (with_downloads, structlog at INFO), by own time:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def _hf(sim: SimProcess, cache: Path, fast: tuple[int, int, float],
        slow: tuple[int, int, float]) -> tuple[list[float], list[float]]:
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    def online() -> None:
        for f in SET_FILES:
            hf_hub_download(SMALL_REPO, f, cache_dir=cache, endpoint=sim.endpoint)

    def offline() -> None:
        for f in SET_FILES:
            if not isinstance(try_to_load_from_cache(SMALL_REPO, f, cache_dir=cache), str):
                raise RuntimeError(f"{f} is not in the huggingface_hub cache")

    online()  # the cold fill, not timed
    online()  # warm-up (connection pool)
    sim.clear()
    hf = batch_means(online, batches=slow[0], size=slow[1], budget_s=slow[2])
    offline()
    tlfc = batch_means(offline, batches=fast[0], size=fast[1], budget_s=fast[2])
    return hf, tlfc
