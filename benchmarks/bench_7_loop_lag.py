"""7. Event-loop lag while the large file downloads and is verified in the same loop.

A coroutine sleeps 5 ms at a time; its lag is how late each wake-up comes. Measured in
a fresh process for this project (``acquire`` awaited in the loop) and for
``hf_hub_download`` run the way an async service would call it
(``asyncio.to_thread``), plus the same loop idle before the download as the floor.
"""

from __future__ import annotations

import shutil
from typing import Any

from .common import Context, Outcome, Target, fmt_time, median, percentile, run_worker
from .data import BIG_FILE, BIG_REPO, big_file
from .sim_process import SimProcess

TITLE = "Event-loop lag during a large download (5 ms ticker)"
PERIOD_S = 0.005
LIMIT_S = 0.020


def run(ctx: Context) -> Outcome:
    big = big_file(ctx.quick)
    trials = 1 if ctx.quick else 5
    reports: dict[str, list[dict[str, Any]]] = {"ours": [], "hf": []}
    with SimProcess({BIG_REPO: {BIG_FILE: big.path}}, lfs=(BIG_FILE,)) as sim:
        for trial in range(trials):
            work = ctx.workdir(f"b7-{trial}")
            for client in reports:
                reports[client].append(run_worker("lag", {
                    "client": client, "endpoint": sim.endpoint, "repo": BIG_REPO,
                    "files": [BIG_FILE], "cache_dir": str(work / client),
                    "cache_key": "weights", "period": PERIOD_S}))
            shutil.rmtree(work, ignore_errors=True)

    def summary(runs: list[dict[str, Any]], key: str) -> tuple[float, float, float, int]:
        """Worst over all trials; p99 and median of the pooled ticks; tick count."""
        lags = [lag for r in runs for lag in r[key]]
        return max(lags, default=float("nan")), percentile(lags, 99), median(lags), len(lags)

    rows = []
    for client, label in (("ours", "this project: await acquire(...)"),
                          ("hf", "hf_hub_download via asyncio.to_thread")):
        for key, phase in (("idle", "idle loop (floor)"), ("busy", "during the download")):
            worst, p99, med, n = summary(reports[client], key)
            rows.append([label, phase, fmt_time(worst), fmt_time(p99), fmt_time(med), str(n),
                         fmt_time(median([r["seconds"] for r in reports[client]]))
                         if key == "busy" else "-"])
    worst = summary(reports["ours"], "busy")[0]
    where = [f"{_pct(r)} ({fmt_time(max(r['busy']))}, GC: {r['gc_count']} collections, "
             f"longest {fmt_time(r['gc_max'])})" for r in reports["ours"]]
    return Outcome(7, TITLE, ["client", "phase", "worst lag", "p99 lag", "median lag",
                              "ticks", "download time"], rows,
                   [Target("worst lag < 20 ms while downloading", worst < LIMIT_S,
                           f"worst {fmt_time(worst)}, p99 "
                           f"{fmt_time(summary(reports['ours'], 'busy')[1])}")],
                   [f"File: {big.label}; {trials} trial(s) per client, each in a fresh "
                    "process; worst is over all trials, p99 over all their ticks.",
                    "This project's worst tick per trial started at: " + "; ".join(where)
                    + "."])


def _pct(report: dict[str, Any]) -> str:
    """When the worst tick began, as a share of the download's duration."""
    at = report.get("worst_at")
    if at is None:
        return "n/a"
    return f"{fmt_time(at)} = {100 * at / report['seconds']:.0f}% into the download"
