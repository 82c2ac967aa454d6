"""3. Peak RSS growth while downloading the large file.

Each client runs in a fresh process. "Idle" is the process right before the download
(imports done, downloader built, ``gc.collect()``), read as VmRSS; the peak is VmHWM
after the download. Growth = peak - idle, a stricter figure than the ``ru_maxrss``
difference (also shown), which starts from the idle process's own earlier peak.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .common import Context, Outcome, Target, child_env, fmt_mib, median, run_worker
from .data import BIG_FILE, BIG_REPO, big_file
from .sim_process import SimProcess

TITLE = "Peak RSS growth while downloading the large file"
LIMIT = 8 * 2**20


def run(ctx: Context) -> Outcome:
    big = big_file(ctx.quick)
    trials = 1 if ctx.quick else 3
    reports: dict[str, list[dict[str, Any]]] = {"ours": [], "hf": []}
    curl_peaks: list[int] = []
    with SimProcess({BIG_REPO: {BIG_FILE: big.path}}, lfs=(BIG_FILE,)) as sim:
        for trial in range(trials):
            work = ctx.workdir(f"b3-{trial}")
            for client in reports:
                reports[client].append(run_worker("download", {
                    "client": client, "endpoint": sim.endpoint, "repo": BIG_REPO,
                    "files": [BIG_FILE], "cache_dir": str(work / client),
                    "cache_key": "weights"}))
            if shutil.which("curl"):
                curl_peaks.append(_curl_peak(sim.url(BIG_REPO, BIG_FILE), work / "curl.bin"))
            shutil.rmtree(work, ignore_errors=True)

    def growth(client: str) -> float:
        return median([r["after"]["hwm"] - r["idle"]["rss"] for r in reports[client]])

    def field(client: str, when: str, key: str) -> float:
        return median([r[when][key] for r in reports[client]])

    rows = []
    for client, label in (("ours", "this project (acquire)"), ("hf", "hf_hub_download")):
        rows.append([label, fmt_mib(field(client, "idle", "rss")),
                     fmt_mib(field(client, "after", "hwm")), fmt_mib(growth(client)),
                     fmt_mib(median([r["after"]["maxrss"] - r["idle"]["maxrss"]
                                     for r in reports[client]])),
                     str(len(reports[client]))])
    if curl_peaks:
        rows.append(["curl (whole process)", "-", fmt_mib(median(curl_peaks)), "-", "-",
                     str(len(curl_peaks))])
    ours = growth("ours")
    return Outcome(3, TITLE, ["client", "idle VmRSS", "peak VmHWM", "growth (peak - idle)",
                              "ru_maxrss growth", "trials"], rows,
                   [Target("<= 8 MiB above the idle process", ours <= LIMIT,
                           f"{fmt_mib(ours)} growth")],
                   [f"File: {big.label}."])


def _curl_peak(url: str, out: Path) -> int:
    """curl's own peak RSS, from ``wait4`` on the child we started."""
    proc = subprocess.Popen(["curl", "-s", "-L", "--noproxy", "*", "-o", str(out), url],
                            env=child_env())
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        proc.returncode = 0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("curl failed")
    return int(usage.ru_maxrss) * 1024
