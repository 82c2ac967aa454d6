"""Command line for the Hub simulator: serve directories as repos until SIGINT/SIGTERM.

The endpoint is the first stdout line so benchmarks and subprocess tests can read it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence

from .hub_simulator import HubSimulator

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tokenizer_acquisition.testing.hub_simulator",
        description="Serve local directories over the Hugging Face Hub download protocol.",
    )
    p.add_argument("--repo", action="append", default=[], metavar="ID=DIR", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--cdn-host", default="127.0.0.2")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cdn-port", type=int, default=0)
    p.add_argument("--mode", choices=("hub", "mirror", "opaque"), default="hub")
    p.add_argument("--lfs", action="append", default=[], metavar="PATH", help="LFS file path")
    p.add_argument("--lfs-threshold", type=int, default=10_000_000)
    p.add_argument("--relative-redirect", action="store_true")
    p.add_argument("--latency", type=float, default=0.0)
    return p


async def _serve(args: argparse.Namespace) -> None:
    sim = HubSimulator(
        args.host,
        args.cdn_host,
        args.lfs_threshold,
        args.mode,
        relative_redirect=args.relative_redirect,
        port=args.port,
        cdn_port=args.cdn_port,
        latency=args.latency,
    )
    for spec in args.repo:
        repo_id, sep, directory = spec.partition("=")
        if not sep or not repo_id or not directory:
            raise SystemExit(f"--repo expects ID=DIR, got {spec!r}")
        sim.add_repo_from_dir(repo_id, directory, lfs=args.lfs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sim:
        print(sim.endpoint, flush=True)
        print(f"cdn {sim.cdn_endpoint}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    asyncio.run(_serve(_parser().parse_args(argv)))
    return 0
