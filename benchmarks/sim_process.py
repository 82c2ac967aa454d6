"""The Hub simulator in its own process, so a measured client never shares its GIL.

The parent talks to it over stdin/stdout, one JSON object per line: ``summary`` (the
request log, counted per method and file), ``clear`` and ``latency``. Closing stdin
stops it. Only 127.0.0.1 (hub) and 127.0.0.2 (CDN) are ever bound.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from .common import PYTHON, REPO_ROOT, child_env, read_line, stop

HUB_HOST = "127.0.0.1"
CDN_HOST = "127.0.0.2"


class SimProcess:
    """``with SimProcess({repo: {path: host_file}}, lfs=[...]) as sim:`` serves until exit."""

    def __init__(self, repos: dict[str, dict[str, Path]], *, lfs: tuple[str, ...] = (),
                 latency: float = 0.0, relative_redirect: bool = False) -> None:
        self._spec = {
            "repos": {repo: {name: str(p) for name, p in files.items()}
                      for repo, files in repos.items()},
            "lfs": list(lfs),
            "latency": latency,
            # resolve answers 307 to resolve-cache (as the Hub does for regular files)
            "relative_redirect": relative_redirect,
        }
        self._proc: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def __enter__(self) -> SimProcess:
        proc = subprocess.Popen(
            [PYTHON, "-m", "benchmarks.sim_process", json.dumps(self._spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env(),
            cwd=REPO_ROOT)
        self._proc = proc
        try:
            self.endpoint = json.loads(read_line(proc, 60))["endpoint"]
        except BaseException:
            stop(proc)
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        try:
            proc.stdin.close()
            proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            stop(proc)

    def url(self, repo: str, path: str, revision: str = "main") -> str:
        return f"{self.endpoint}/{repo}/resolve/{quote(revision, safe='')}/{quote(path)}"

    def _ask(self, **command: Any) -> dict[str, Any]:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        proc.stdin.write(json.dumps(command) + "\n")
        proc.stdin.flush()
        answer: dict[str, Any] = json.loads(read_line(proc, 30))
        return answer

    def summary(self) -> dict[str, Any]:
        """``{"total": n, "gets": {file: n}, "heads": {file: n}, "other": n}``.

        ``gets`` counts GETs that served file bytes (``HubSimulator.file_gets``).
        """
        return self._ask(cmd="summary")

    def clear(self) -> None:
        self._ask(cmd="clear")

    def set_latency(self, seconds: float) -> None:
        self._ask(cmd="latency", seconds=seconds)


# -- the child side ----------------------------------------------------------------------------

def _summary(sim: Any) -> dict[str, Any]:
    requests = sim.requests
    gets = Counter(r.file for r in requests if r.served_body)
    heads = Counter(r.file for r in requests if r.method == "HEAD")
    other = sum(1 for r in requests if not r.served_body and r.method != "HEAD")
    return {"total": len(requests), "gets": dict(gets), "heads": dict(heads), "other": other}


async def _serve(spec: dict[str, Any]) -> None:
    from tokenizer_acquisition.testing import HubSimulator

    sim = HubSimulator(HUB_HOST, CDN_HOST, latency=float(spec["latency"]),
                       relative_redirect=bool(spec.get("relative_redirect")))
    for repo, files in spec["repos"].items():
        data = {name: Path(p).read_bytes() for name, p in files.items()}
        sim.add_repo(repo, data, lfs=[f for f in spec["lfs"] if f in data])
    loop = asyncio.get_running_loop()
    async with sim:
        print(json.dumps({"endpoint": sim.endpoint, "cdn": sim.cdn_endpoint}), flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command = json.loads(line)
            answer: dict[str, Any] = {"ok": True}
            if command["cmd"] == "summary":
                answer = _summary(sim)
            elif command["cmd"] == "clear":
                sim.clear()
            elif command["cmd"] == "latency":
                sim.latency = float(command["seconds"])
            print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    asyncio.run(_serve(json.loads(sys.argv[1])))
