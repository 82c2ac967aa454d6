"""5. Many callers at once: 100 concurrent acquires in one process, then 4 processes.

All callers ask for the same set (the 4 MiniLM files plus a 20 MiB LFS file, so the
download lasts long enough for every caller to overlap it) against one empty cache.
Requests per file come from the simulator's log (GETs that served the file's bytes);
the target is exactly one. The peer is ``hf_hub_download`` per file, from 100 threads
and from 4 processes sharing one cache. Run last: it measures single-flight and the
cross-process lock.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from .common import (
    PYTHON,
    REPO_ROOT,
    Context,
    Outcome,
    Target,
    child_env,
    fmt_time,
    read_line,
    run_worker,
    stop,
)
from .data import SET_FILES, generated, sha256_of, small_files
from .sim_process import SimProcess

TITLE = "Concurrent acquisitions: 100 in one process, 4 processes"
REPO = "bench/contended-set"
BIG = "model.safetensors"
CALLERS = 100
PROCESSES = 4
WAIT_S = 120.0


def run(ctx: Context) -> Outcome:
    files = {**small_files(), BIG: generated(20 * 2**20)}
    digests = {name: sha256_of(path) for name, path in files.items()}
    rows: list[list[str]] = []
    ours: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    with SimProcess({REPO: files}, lfs=(BIG,)) as sim:
        for client in ("ours", "hf"):
            for scenario in ("threads", "processes"):
                sim.clear()
                cache = ctx.workdir(f"b5-{client}-{scenario}")
                if scenario == "threads":
                    report = run_worker("concurrent", _args(sim.endpoint, client, cache)
                                        | {"n": CALLERS}, timeout=WAIT_S + 30)
                    identical = report["distinct_paths"] == 1 and not report["failed"]
                    label = f"{CALLERS} concurrent callers, one process"
                else:
                    report = _processes(sim.endpoint, client, cache, digests)
                    identical = report["identical"]
                    label = f"{PROCESSES} processes at once"
                log = sim.summary()
                per_file = [log["gets"].get(name, 0) for name in files]
                heads = sum(log["heads"].values())
                failed = report["failed"]
                notes += [f"{client} / {label}: {failed} caller(s) failed: {e}"
                          for e in report["errors"]]
                row = {"per_file": per_file, "identical": identical, "seconds": report["seconds"]}
                if client == "ours":
                    ours[scenario] = row
                rows.append([
                    "this project (acquire)" if client == "ours" else "hf_hub_download per file",
                    label, fmt_time(report["seconds"]),
                    f"{min(per_file)}-{max(per_file)}" if min(per_file) != max(per_file)
                    else str(max(per_file)),
                    str(heads), str(log["total"]), str(failed), "yes" if identical else "NO",
                ])
    targets = [
        Target(f"exactly 1 GET per file, {what}", all(n == 1 for n in ours[key]["per_file"]),
               "GETs per file: " + ", ".join(str(n) for n in ours[key]["per_file"]))
        for key, what in (("threads", f"{CALLERS} callers in one process"),
                          ("processes", f"{PROCESSES} processes"))
    ]
    targets.append(Target("every caller succeeds and ends with the same, complete files",
                          all(r["identical"] for r in ours.values()),
                          "same path for all callers; processes' files match the source's "
                          "sha256" if all(r["identical"] for r in ours.values())
                          else "callers disagree or files differ"))
    return Outcome(5, TITLE, ["client", "scenario", "wall time", "GETs per file", "HEADs",
                              "requests in all", "failed callers", "same complete files"],
                   rows, targets,
                   [*notes, "Files: " + ", ".join(files) + f" ({BIG}: 20 MiB, LFS, via the CDN).",
                    "Wall time: first caller's start to last caller's end (processes: "
                    "from the common 'go', imports and set-up excluded)."])


def _args(endpoint: str, client: str, cache: Path) -> dict[str, Any]:
    return {"client": client, "endpoint": endpoint, "repo": REPO,
            "files": [*SET_FILES, BIG], "cache_dir": str(cache), "cache_key": "contended"}


def _processes(endpoint: str, client: str, cache: Path, digests: dict[str, str]
               ) -> dict[str, Any]:
    """Start the processes, wait until all are ready, release them together."""
    argv = [PYTHON, "-m", "benchmarks.worker", "multi", json.dumps(_args(endpoint, client, cache))]
    procs = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=child_env(), cwd=REPO_ROOT)
             for _ in range(PROCESSES)]
    try:
        for proc in procs:
            json.loads(read_line(proc, 60))
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        deadline = time.monotonic() + WAIT_S
        reports, errors = [], set()
        for proc in procs:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            if proc.returncode == 0:
                report = json.loads(out.strip().splitlines()[-1])
                if "error" in report:
                    errors.add(report["error"])
                else:
                    reports.append(report)
            else:
                last = (err.strip().splitlines() or ["?"])[-1]
                errors.add(f"exit {proc.returncode}: {last}"[:200])
    finally:
        for proc in procs:
            stop(proc)
    identical = bool(reports) and all(sha256_of(Path(path)) == digests[name]
                                      for r in reports for name, path in r["paths"].items())
    return {"seconds": max((r["end"] for r in reports), default=float("nan"))
            - min((r["go"] for r in reports), default=float("nan")),
            "failed": PROCESSES - len(reports), "errors": sorted(errors),
            "identical": identical and not errors
            and len({json.dumps(r["paths"], sort_keys=True) for r in reports}) == 1}
