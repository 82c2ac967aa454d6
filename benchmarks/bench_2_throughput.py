"""2. Cold download throughput of one large LFS file (hub -> 302 -> CDN on 127.0.0.2).

Each trial is a fresh process with an empty cache: this project (``acquire``, which also
verifies the sha256 and publishes the file), ``curl -L`` (the practical limit; its own
``time_total``), the sequential durable reference ``curl -o f && sha256sum f && fsync f``
(what this project promises: the bytes verified and on disk) and ``hf_hub_download``.
Trials are interleaved so drift hits all alike.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from .common import (
    Context,
    Outcome,
    Target,
    child_env,
    fmt_ratio,
    fmt_time,
    median,
    run_worker,
)
from .data import BIG_FILE, BIG_REPO, BigFile, big_file, sha256_of
from .sim_process import SimProcess

TITLE = "Cold download throughput of a large file"
CURL_TIMEOUT_S = 300


def run(ctx: Context) -> Outcome:
    big = big_file(ctx.quick)
    trials = 2 if ctx.quick else 7
    curl = shutil.which("curl")
    times: dict[str, list[float]] = {"ours": [], "curl": [], "durable": [], "hf": []}
    gets: dict[str, int] = {}
    with SimProcess({BIG_REPO: {BIG_FILE: big.path}}, lfs=(BIG_FILE,)) as sim:
        for trial in range(trials):
            work = ctx.workdir(f"b2-{trial}")
            times["ours"].append(_worker(sim, big, work / "ours", "ours"))
            if curl:
                seconds, verified = _curl(curl, sim, big, work / "curl.bin")
                times["curl"].append(seconds)
                times["durable"].append(seconds + verified)
            times["hf"].append(_worker(sim, big, work / "hf", "hf"))
            shutil.rmtree(work, ignore_errors=True)
        gets = sim.summary()["gets"]
    rate = {k: big.size / median(v) / 1e6 if v else float("nan") for k, v in times.items()}
    rows = [
        [label, fmt_time(median(times[key])), f"{rate[key]:.0f} MB/s",
         fmt_ratio(rate[key] / rate["curl"]) if curl else "n/a", str(len(times[key]))]
        for key, label in (("ours", "this project (acquire: download + sha256 + publish)"),
                           ("curl", "curl -s -L -o FILE URL (the limit)"),
                           ("durable", "curl -o f && sha256sum f && fsync f "
                                       "(sequential durable reference)"),
                           ("hf", "huggingface_hub hf_hub_download"))
        if times[key]
    ]
    ratio = rate["ours"] / rate["curl"] if curl else float("nan")
    durable = rate["ours"] / rate["durable"] if curl else float("nan")
    hf = rate["ours"] / rate["hf"]
    targets = [
        Target(">= 1.2x faster than the sequential durable reference", durable >= 1.2
               if curl else None, f"{fmt_ratio(durable)} as fast" if curl
               else "curl is not installed"),
        Target(">= 0.6x curl throughput", ratio >= 0.6 if curl else None,
               f"{fmt_ratio(ratio)} of curl" if curl else "curl is not installed"),
        Target(">= 2.5x faster than hf_hub_download", hf >= 2.5, f"{fmt_ratio(hf)} as fast"),
    ]
    notes = [f"File: {big.label}, {big.size:,} bytes, LFS (302 to the CDN listener).",
             f"Body GETs served per trial: {sum(gets.values()) / trials:.0f} "
             "(one per client expected).",
             "Times are measured inside each client (curl: its time_total); process start-up "
             "is excluded for all.",
             "This project hashes and fsyncs the file before publishing it; curl and "
             "hf_hub_download do not fsync. The durable reference adds to curl's time_total "
             "the wall time of `sha256sum FILE` (a process, as a script would run it) and "
             "of an fsync of the file, one after the other."]
    if not curl:
        notes.append("curl is not installed: no practical-limit peer in this run.")
    return Outcome(2, TITLE, ["client", "median time", "throughput", "vs curl", "trials"],
                   rows, targets, notes)


def _worker(sim: SimProcess, big: BigFile, cache: Path, client: str) -> float:
    report = run_worker("download", {"client": client, "endpoint": sim.endpoint,
                                     "repo": BIG_REPO, "files": [BIG_FILE],
                                     "cache_dir": str(cache), "cache_key": "weights"})
    _check(Path(report["paths"][BIG_FILE]), big, client)
    seconds: float = report["seconds"]
    return seconds


def _curl(curl: str, sim: SimProcess, big: BigFile, out: Path) -> tuple[float, float]:
    """curl's ``time_total``, and how long ``sha256sum`` then an fsync of its output take
    right after (the rest of the sequential durable reference)."""
    done = subprocess.run(
        [curl, "-s", "-L", "--noproxy", "*", "-o", str(out), "-w", "%{time_total}",
         sim.url(BIG_REPO, BIG_FILE)],
        capture_output=True, text=True, timeout=CURL_TIMEOUT_S, check=True, env=child_env())
    started = time.perf_counter()
    summed = subprocess.run(["sha256sum", str(out)], capture_output=True, text=True,
                            timeout=CURL_TIMEOUT_S, check=True)
    if summed.stdout.split()[0] != big.sha256:
        raise RuntimeError("sha256sum disagrees with the source's sha256")
    fd = os.open(out, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    flushed = time.perf_counter() - started
    _check(out, big, "curl")
    return float(done.stdout.strip()), flushed


def _check(path: Path, big: BigFile, client: str) -> None:
    if path.stat().st_size != big.size or sha256_of(path) != big.sha256:
        raise RuntimeError(f"{client} produced a file that differs from the source")
