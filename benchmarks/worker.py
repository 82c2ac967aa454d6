"""Measured clients in fresh processes: ``python -m benchmarks.worker TASK JSON``.

A fresh process per trial gives every client the same start (nothing cached in memory,
no warm connection) and lets RSS be read for the download alone. The last stdout line
is a JSON report. ``client`` is ``ours`` (this project's facade) or ``hf``
(``huggingface_hub.hf_hub_download``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Every measured download is abandoned after this long.
DOWNLOAD_TIMEOUT_S = 300.0
MAX_TICKS = 200_000


def _status(field: str) -> int:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return -1


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _ours(args: dict[str, Any]) -> Any:
    from tokenizer_acquisition import SmartTokenizerDownload

    return SmartTokenizerDownload.with_downloads(args["cache_dir"], endpoint=args["endpoint"],
                                                 trust_env=False)


def _info(args: dict[str, Any]) -> Any:
    from tokenizer_acquisition import TokenizerDownloadInfo

    # "discover": files=None, the set is listed and picked by the tokenizer preset.
    files = None if args.get("discover") else tuple(args["files"])
    return TokenizerDownloadInfo(args["repo"], args.get("cache_key", "bench"), files)


def _hf_fetch(args: dict[str, Any]) -> Callable[[], dict[str, str]]:
    from huggingface_hub import hf_hub_download

    def fetch() -> dict[str, str]:
        return {f: hf_hub_download(args["repo"], f, cache_dir=args["cache_dir"],
                                   endpoint=args["endpoint"]) for f in args["files"]}
    return fetch


def _memory() -> dict[str, int]:
    return {"rss": _status("VmRSS"), "hwm": _status("VmHWM"), "maxrss": _maxrss()}


# -- tasks -------------------------------------------------------------------------------------

def download(args: dict[str, Any]) -> dict[str, Any]:
    """One cold download; time around the call, memory before and after."""
    if args["client"] == "hf":
        fetch = _hf_fetch(args)
        gc.collect()
        idle = _memory()
        started = time.perf_counter()
        paths = fetch()
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "paths": paths, "idle": idle, "after": _memory()}

    async def main() -> dict[str, Any]:
        info = _info(args)
        async with _ours(args) as downloader:
            gc.collect()
            idle = _memory()
            started = time.perf_counter()
            async with asyncio.timeout(DOWNLOAD_TIMEOUT_S):
                result = await downloader.acquire(info)
            seconds = time.perf_counter() - started
            after = _memory()
        paths = {f: str(p) for f, p in result.files.items()}
        return {"seconds": seconds, "paths": paths, "idle": idle, "after": after}

    return asyncio.run(main())


def snapshot(args: dict[str, Any]) -> dict[str, Any]:
    """``snapshot_download`` restricted to the requested files (huggingface_hub's pool)."""
    from huggingface_hub import snapshot_download

    started = time.perf_counter()
    folder = snapshot_download(args["repo"], allow_patterns=list(args["files"]),
                               cache_dir=args["cache_dir"], endpoint=args["endpoint"])
    seconds = time.perf_counter() - started
    missing = [f for f in args["files"] if not (Path(folder) / f).is_file()]
    if missing:
        raise SystemExit(f"snapshot_download left out {missing}")
    return {"seconds": seconds, "paths": {f: str(Path(folder) / f) for f in args["files"]}}


async def _ticker(done: asyncio.Event, period: float, lags: list[float],
                  at: list[float] | None = None) -> None:
    """Sleep ``period`` at a time; append each wake-up's lateness (and its start time)."""
    while not done.is_set() and len(lags) < MAX_TICKS:
        started = time.perf_counter()
        await asyncio.sleep(period)
        lags.append(time.perf_counter() - started - period)
        if at is not None:
            at.append(started)


class _GcPauses:
    """Collector pauses while installed, to tell a GC stall from our own code's."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, float, int]] = []  # (start, seconds, generation)
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((self._started, time.perf_counter() - self._started,
                                info["generation"]))


def lag(args: dict[str, Any]) -> dict[str, Any]:
    """Lateness of a 5 ms ticker in the loop that downloads (and verifies) the file."""
    period = float(args.get("period", 0.005))

    async def tick_while(work: Callable[[], Any]) -> dict[str, Any]:
        done, lags, at = asyncio.Event(), [], []
        gc_pauses = _GcPauses()
        ticker = asyncio.create_task(_ticker(done, period, lags, at))
        gc.callbacks.append(gc_pauses)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(DOWNLOAD_TIMEOUT_S):
                await work()
        finally:
            seconds = time.perf_counter() - started
            gc.callbacks.remove(gc_pauses)
            done.set()
            await ticker
        worst = max(range(len(lags)), key=lags.__getitem__, default=None)
        return {"lags": lags, "seconds": seconds,
                "worst_at": None if worst is None else at[worst] - started,
                "gc_max": max((p for _, p, _ in gc_pauses.pauses), default=0.0),
                "gc_count": len(gc_pauses.pauses)}

    async def main() -> dict[str, Any]:
        idle = await tick_while(lambda: asyncio.sleep(float(args.get("idle_s", 0.5))))
        if args["client"] == "hf":
            fetch = _hf_fetch(args)
            busy = await tick_while(lambda: asyncio.to_thread(fetch))
        else:
            info = _info(args)
            async with _ours(args) as downloader:
                busy = await tick_while(lambda: downloader.acquire(info))
        return {"idle": idle["lags"], "busy": busy["lags"], "seconds": busy["seconds"],
                "worst_at": busy["worst_at"], "gc_max": busy["gc_max"],
                "gc_count": busy["gc_count"]}

    return asyncio.run(main())


def concurrent(args: dict[str, Any]) -> dict[str, Any]:
    """``n`` callers at once in this process, all asking for the same set."""
    n = int(args["n"])
    if args["client"] == "hf":
        from concurrent.futures import ThreadPoolExecutor

        fetch = _hf_fetch(args)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=n) as pool:
            futures = [pool.submit(fetch) for _ in range(n)]
            results, errors = [], set()
            for future in futures:
                try:
                    results.append(future.result(timeout=DOWNLOAD_TIMEOUT_S))
                except Exception as exc:
                    errors.add(f"{type(exc).__name__}: {exc}"[:200])
        seconds = time.perf_counter() - started
        primaries = {r[args["files"][0]] for r in results}
        return {"seconds": seconds, "distinct_paths": len(primaries), "callers": len(results),
                "failed": n - len(results), "errors": sorted(errors)}

    async def main() -> dict[str, Any]:
        info = _info(args)
        async with _ours(args) as downloader:
            started = time.perf_counter()
            async with asyncio.timeout(DOWNLOAD_TIMEOUT_S):
                outcomes = await asyncio.gather(*(downloader.download_tokenizer(info)
                                                  for _ in range(n)), return_exceptions=True)
            seconds = time.perf_counter() - started
        paths = [o for o in outcomes if not isinstance(o, BaseException)]
        errors = sorted({f"{type(o).__name__}: {o}"[:200] for o in outcomes
                         if isinstance(o, BaseException)})
        return {"seconds": seconds, "distinct_paths": len(set(paths)), "callers": len(paths),
                "failed": n - len(paths), "errors": errors}

    return asyncio.run(main())


def multi(args: dict[str, Any]) -> dict[str, Any]:
    """One of several processes: ready, wait for ``go`` on stdin, acquire, report."""
    if args["client"] == "hf":
        fetch = _hf_fetch(args)
    else:
        downloader, info = _ours(args), _info(args)

        async def once() -> dict[str, str]:
            async with downloader:
                async with asyncio.timeout(DOWNLOAD_TIMEOUT_S):
                    result = await downloader.acquire(info)
            return {f: str(p) for f, p in result.files.items()}

        def fetch() -> dict[str, str]:
            return asyncio.run(once())

    print(json.dumps({"ready": True}), flush=True)
    if not sys.stdin.readline():
        raise SystemExit("parent went away")
    go = time.time()
    try:
        paths = fetch()
    except Exception as exc:  # reported, so the parent can count it among the callers
        return {"go": go, "end": time.time(), "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"go": go, "end": time.time(), "paths": paths}


def cache_only_modules(args: dict[str, Any]) -> dict[str, Any]:
    """A cache-only acquisition of a cached set: which heavy modules did it load?"""
    import contextlib
    import io

    started = time.perf_counter()
    from tokenizer_acquisition import SmartTokenizerDownload

    # structlog is left unconfigured here (its import is part of the cost), so the hit's
    # debug line goes to stdout: keep it out of the report.
    with contextlib.redirect_stdout(io.StringIO()):
        path = SmartTokenizerDownload.cache_only(args["cache_dir"]).download_tokenizer_sync(
            _info(args))
    seconds = time.perf_counter() - started
    watched = ("aiohttp", "yarl", "multidict", "huggingface_hub", "httpx", "dependency_injector",
               "structlog", "rich", "filelock", "platformdirs")
    return {"seconds": seconds, "path": str(path), "modules": len(sys.modules),
            "loaded": {name: name in sys.modules for name in watched}}


def download_sets(args: dict[str, Any]) -> dict[str, Any]:
    """Several cold sets at once in one process (one repo and cache key each)."""
    from tokenizer_acquisition import TokenizerDownloadInfo

    async def main() -> dict[str, Any]:
        infos = [TokenizerDownloadInfo(repo, f"set{n}", tuple(args["files"]))
                 for n, repo in enumerate(args["repos"])]
        async with _ours(args) as downloader:
            started = time.perf_counter()
            async with asyncio.timeout(DOWNLOAD_TIMEOUT_S):
                results = await asyncio.gather(*(downloader.acquire(i) for i in infos))
            seconds = time.perf_counter() - started
        return {"seconds": seconds, "sets": len(results),
                "files": sum(len(r.files) for r in results)}

    return asyncio.run(main())


def raw(args: dict[str, Any]) -> dict[str, Any]:
    """The floor: every file of every repo fetched at once by a bare aiohttp client that
    follows redirects and keeps nothing (no disk, no hash): the round trips themselves."""
    import aiohttp

    async def main() -> dict[str, Any]:
        urls = [f"{args['endpoint']}/{repo}/resolve/main/{name}"
                for repo in args["repos"] for name in args["files"]]
        async with aiohttp.ClientSession(trust_env=False, auto_decompress=False) as session:

            async def get(url: str) -> int:
                async with session.get(url, headers={"Accept-Encoding": "identity"}) as r:
                    r.raise_for_status()
                    return len(await r.read())

            started = time.perf_counter()
            sizes = await asyncio.gather(*(get(u) for u in urls))
            seconds = time.perf_counter() - started
        return {"seconds": seconds, "bytes": sum(sizes)}

    return asyncio.run(main())


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "download": download,
    "download_sets": download_sets,
    "raw": raw,
    "snapshot": snapshot,
    "lag": lag,
    "concurrent": concurrent,
    "multi": multi,
    "cache_only_modules": cache_only_modules,
}

if __name__ == "__main__":
    if sys.argv[1] != "cache_only_modules":
        import structlog

        # Keep stdout for the report: the library's events go to stderr, formatted as usual.
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    report = TASKS[sys.argv[1]](json.loads(sys.argv[2]))
    print(json.dumps(report), flush=True)
