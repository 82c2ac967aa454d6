"""4. Cold 4-file set when every request waits 50 ms at the server.

This project fetches the set's files concurrently; ``hf_hub_download`` called per file
pays a HEAD and a GET per file, one after another. ``snapshot_download`` with
``allow_patterns`` (which lists the repo, then downloads with a thread pool) is shown too,
as the concurrent way to use ``huggingface_hub``. Every trial starts from an empty cache in
a fresh process, so connection set-up is included for all.
"""

from __future__ import annotations

import shutil
from typing import Any

from .common import Context, Outcome, Target, fmt_ratio, fmt_time, median, run_worker
from .data import SET_FILES, SMALL_REPO, small_files
from .sim_process import SimProcess

TITLE = "Cold 4-file set with 50 ms server latency per request"
LATENCY_S = 0.050


def run(ctx: Context) -> Outcome:
    trials = 2 if ctx.quick else 7
    clients = (("ours", "this project (acquire)"),
               ("hf", "hf_hub_download, once per file"),
               ("hf_snapshot", "snapshot_download(allow_patterns=the 4 files)"))
    times: dict[str, list[float]] = {key: [] for key, _ in clients}
    requests: dict[str, list[int]] = {key: [] for key, _ in clients}
    with SimProcess({SMALL_REPO: small_files()}, latency=LATENCY_S) as sim:
        for trial in range(trials):
            work = ctx.workdir(f"b4-{trial}")
            for key, _ in clients:
                sim.clear()
                report = _trial(key, sim.endpoint, str(work / key))
                times[key].append(report["seconds"])
                requests[key].append(sim.summary()["total"])
            shutil.rmtree(work, ignore_errors=True)
    m = {key: median(v) for key, v in times.items()}
    rows = [[label, fmt_time(m[key]), f"{m[key] / LATENCY_S:.1f}",
             f"{median(requests[key]):.0f}", fmt_ratio(m[key] / m["ours"]), str(len(times[key]))]
            for key, label in clients]
    in_latencies = m["ours"] / LATENCY_S
    return Outcome(4, TITLE, ["client", "median wall time", "in latencies (50 ms)",
                              "requests", "time / ours", "trials"], rows,
                   [Target("close to one latency (< 2 latencies, i.e. < 100 ms)",
                           in_latencies < 2, f"{fmt_time(m['ours'])} = {in_latencies:.1f} "
                           "latencies")],
                   ["Files: " + ", ".join(SET_FILES) + " (none is LFS, so one GET each).",
                    "'Close to one latency' is read as: the set costs less than two "
                    "sequential round trips, so the files cannot have been fetched one by one."])


def _trial(client: str, endpoint: str, cache: str) -> dict[str, Any]:
    args = {"client": client, "endpoint": endpoint, "repo": SMALL_REPO, "files": list(SET_FILES),
            "cache_dir": cache, "cache_key": "minilm"}
    if client == "hf_snapshot":
        return run_worker("snapshot", args)
    return run_worker("download", args)
