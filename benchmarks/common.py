"""Shared pieces: an isolated environment, the machine's description, statistics, tables.

Every benchmark returns an ``Outcome`` (a table plus targets met or missed); ``run.py``
prints them and writes ``RESULTS.md``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "benchmarks"
DATA_DIR = BENCH_DIR / ".data"
PYTHON = sys.executable

#: Variables that would point a client at a real Hub, a real cache or a real token.
_SCRUBBED_PREFIXES = ("HF_", "HUGGINGFACE_", "TOKACQ_")
_SCRUBBED = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
             "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


def isolate(tmp: Path) -> None:
    """Point every cache at ``tmp`` and turn off tokens, telemetry and proxies.

    Must run before ``huggingface_hub`` is imported: it reads its environment at import.
    Child processes inherit the result.
    """
    for name in list(os.environ):
        if name.startswith(_SCRUBBED_PREFIXES) or name in _SCRUBBED:
            del os.environ[name]
    home = tmp / "hf_home"
    os.environ.update({
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_OFFLINE": "0",
        # Calls pass endpoint= explicitly; this default keeps huggingface_hub's own
        # background requests (its agent registry) on a dead loopback port.
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "XDG_CACHE_HOME": str(tmp / "xdg_cache"),
        "NO_PROXY": "127.0.0.1,127.0.0.2,localhost",
        "no_proxy": "127.0.0.1,127.0.0.2,localhost",
        # Bytecode caches as an installed package has them, kept out of the source tree
        # (this machine may set PYTHONDONTWRITEBYTECODE=1, which makes every start compile).
        "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
    })
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Drop what unconfigured structlog prints to stdout while a cache is being filled."""
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


def child_env() -> dict[str, str]:
    """The isolated environment, with the project root importable (``-m benchmarks.x``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(REPO_ROOT)]))
    return env


# -- results -----------------------------------------------------------------------------------

@dataclass
class Target:
    text: str
    met: bool | None  # None: could not be measured
    detail: str = ""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "not measured"}[self.met]


@dataclass
class Outcome:
    number: int
    title: str
    headers: list[str]
    rows: list[list[str]]
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class Context:
    quick: bool
    tmp: Path
    profile: bool = False

    def workdir(self, name: str) -> Path:
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


# -- numbers -----------------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def fmt_time(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(value: float) -> str:
    if value != value:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}x"
    return f"{value:.2f}x"


def fmt_mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:.1f} MiB"


def batch_means(call: Callable[[], object], *, batches: int, size: int,
                budget_s: float) -> list[float]:
    """Per-call means of up to ``batches`` batches of ``size`` calls, within ``budget_s``."""
    means: list[float] = []
    deadline = time.perf_counter() + budget_s
    for _ in range(batches):
        started = time.perf_counter()
        for _ in range(size):
            call()
        elapsed = time.perf_counter() - started
        means.append(elapsed / size)
        if time.perf_counter() > deadline:
            break
    return means


async def abatch_means(call: Callable[[], Awaitable[object]], *, batches: int, size: int,
                       budget_s: float) -> list[float]:
    """``batch_means`` for a coroutine function, awaited in the running loop."""
    means: list[float] = []
    deadline = time.perf_counter() + budget_s
    for _ in range(batches):
        started = time.perf_counter()
        for _ in range(size):
            await call()
        means.append((time.perf_counter() - started) / size)
        if time.perf_counter() > deadline:
            break
    return means


# -- child processes ---------------------------------------------------------------------------

def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """One stdout line from ``proc``, or ``TimeoutError`` (the child stays ours to stop)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError(f"no output from pid {proc.pid} within {timeout:.0f} s")
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"pid {proc.pid} exited early (code {proc.wait(5)})")
    return line


def stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Terminate one child we started, by its own pid, and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def run_worker(task: str, args: Mapping[str, Any], timeout: float = 180.0) -> dict[str, Any]:
    """Run ``benchmarks.worker`` once; its last stdout line is a JSON report."""
    done = subprocess.run([PYTHON, "-m", "benchmarks.worker", task, json.dumps(args)],
                          capture_output=True, text=True, env=child_env(), cwd=REPO_ROOT,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {task} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


# -- the machine -------------------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _curl_version() -> str:
    try:
        out = subprocess.run(["curl", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return out.stdout.split("\n", 1)[0].split(" (")[0]


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine() -> dict[str, str]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "CPU": _cpu_model(),
        "Cores": f"{os.cpu_count()} logical" + (f" ({affinity} usable)" if affinity else ""),
        "RAM": _ram(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "aiohttp": _version("aiohttp"),
        "huggingface_hub": _version("huggingface_hub"),
        "tokenizer-acquisition": _version("tokenizer-acquisition"),
        "curl": _curl_version(),
        "Load average at start": _loadavg(),
        "Date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
