"""4. Cold 4-file sets when every request waits 50 ms at the server.

Two server shapes: the simulator answering ``resolve`` directly (one round trip per file),
and ``resolve`` redirecting to ``resolve-cache`` as the Hub does for regular files (two).
In each, this project's ``acquire`` is compared with:

- the floor: a bare aiohttp client in a fresh process fetching the same files at once,
  following redirects, keeping nothing: the round trips the protocol cannot avoid, with
  the same connection set-up;
- ``hf_hub_download`` once per file (a HEAD and a GET per file, one after another);
- ``snapshot_download(allow_patterns=...)`` (a listing, then a thread pool).

Then 8 cold sets at once in one process (8 repos, 32 files), against the single set.
Every trial starts from an empty cache in a fresh process; clients are interleaved per
round so drift hits all alike.
"""

from __future__ import annotations

import shutil
from typing import Any

from .common import Context, Outcome, Target, fmt_ratio, fmt_time, median, run_worker
from .data import SET_FILES, SMALL_REPO, small_files
from .sim_process import SimProcess

TITLE = "Cold 4-file sets with 50 ms server latency per request"
LATENCY_S = 0.050
PARALLEL_SETS = 8
#: (key, label, round trips per file the protocol needs, target in latencies)
MODES = (("direct", "resolve answers directly", 1, 1.2),
         ("redirect", "resolve redirects to resolve-cache", 2, 2.2))
CLIENTS = (("ours", "this project (acquire)"),
           ("ours_discover", "this project, files=None (discovery: a listing first)"),
           ("floor", "floor: bare aiohttp, all files at once, nothing kept"),
           ("hf", "hf_hub_download, once per file"),
           ("hf_snapshot", "snapshot_download(allow_patterns=the 4 files)"))


def run(ctx: Context) -> Outcome:
    trials = 2 if ctx.quick else 7
    rows: list[list[str]] = []
    targets: list[Target] = []
    single: dict[str, float] = {}
    parallel: dict[str, float] = {}
    repos = {SMALL_REPO: small_files()}
    many = [f"{SMALL_REPO}-{n}" for n in range(PARALLEL_SETS)]
    repos.update({repo: small_files(n) for n, repo in enumerate(many)})
    for mode, label, trips, limit in MODES:
        times: dict[str, list[float]] = {key: [] for key, _ in CLIENTS}
        times.update({"ours_8": [], "floor_8": []})
        requests: dict[str, list[int]] = {key: [] for key in times}
        with SimProcess(repos, latency=LATENCY_S, relative_redirect=mode == "redirect") as sim:
            for trial in range(trials):
                work = ctx.workdir(f"b4-{mode}-{trial}")
                for key in times:
                    sim.clear()
                    report = _trial(key, sim.endpoint, str(work / key), many)
                    times[key].append(report["seconds"])
                    requests[key].append(sim.summary()["total"])
                shutil.rmtree(work, ignore_errors=True)
        m = {key: median(v) for key, v in times.items()}
        single[mode], parallel[mode] = m["ours"], m["ours_8"]
        labels = dict(CLIENTS) | {
            "ours_8": f"this project, {PARALLEL_SETS} sets at once ({PARALLEL_SETS * 4} files)",
            "floor_8": f"floor, {PARALLEL_SETS * 4} files at once"}
        for key in times:
            rows.append([label, labels[key], fmt_time(m[key]), f"{m[key] / LATENCY_S:.2f}",
                         f"{median(requests[key]):.0f}", fmt_ratio(m[key] / m["ours"]),
                         str(len(times[key]))])
        latencies = m["ours"] / LATENCY_S
        targets.append(Target(
            f"{label}: at most {limit} latencies ({trips} round trip{'s' if trips > 1 else ''})",
            latencies <= limit, f"{fmt_time(m['ours'])} = {latencies:.2f} latencies; the "
            f"floor takes {m['floor'] / LATENCY_S:.2f}, ours is "
            f"{fmt_ratio(m['ours'] / m['floor'])} of it"
            + ("; the floor alone is above the target here: out of reach on this machine"
               if m["floor"] / LATENCY_S > limit else "")))
        extra = (m["ours_discover"] - m["ours"]) / LATENCY_S
        targets.append(Target(
            f"{label}: discovery adds at most one round trip to a cold set",
            extra <= 1.2, f"files=None {fmt_time(m['ours_discover'])} vs explicit files "
            f"{fmt_time(m['ours'])}: +{extra:.2f} latencies, "
            f"{median(requests['ours_discover']) - median(requests['ours']):.0f} more "
            "request(s)"))
        targets.append(Target(
            f"{label}: {PARALLEL_SETS} sets at once at most 1.5x one set",
            m["ours_8"] <= 1.5 * m["ours"], f"{fmt_ratio(m['ours_8'] / m['ours'])} "
            f"({fmt_time(m['ours_8'])} vs {fmt_time(m['ours'])})"))
    return Outcome(4, TITLE, ["server", "client", "median wall time", "in latencies (50 ms)",
                              "requests", "time / ours", "trials"], rows, targets,
                   ["Files: " + ", ".join(SET_FILES) + " (none is LFS).",
                    "The floor is what the protocol cannot avoid on this machine: the same "
                    "requests, concurrently, in a fresh process (connection set-up included), "
                    "with no disk work; the gap to it is this project's own cost (partials, "
                    "hashing, fsyncs, journal, publication).",
                    f"'{PARALLEL_SETS} sets at once': {PARALLEL_SETS} repos with the same files "
                    "(each with distinct bytes: no blob is shared), "
                    "acquired concurrently through one facade (max_concurrent_files applies "
                    "per set)."])


def _trial(client: str, endpoint: str, cache: str, many: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {"client": client, "endpoint": endpoint, "repo": SMALL_REPO,
                            "files": list(SET_FILES), "cache_dir": cache,
                            "cache_key": "minilm", "repos": [SMALL_REPO]}
    if client == "hf_snapshot":
        return run_worker("snapshot", args)
    if client == "floor":
        return run_worker("raw", args)
    if client == "floor_8":
        return run_worker("raw", args | {"repos": many})
    if client == "ours_discover":
        return run_worker("download", args | {"client": "ours", "discover": True})
    if client == "ours_8":
        return run_worker("download_sets", args | {"client": "ours", "repos": many})
    return run_worker("download", args)
