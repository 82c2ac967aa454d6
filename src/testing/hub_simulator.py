"""A local Hugging Face Hub: the file-download protocol over real sockets, with faults.

Integration tests, benchmarks and ``tokacq demo`` need a Hub that behaves like
huggingface.co (ETags, X-Repo-Commit, LFS redirects to a CDN on another host, error
codes) but that can also misbehave on demand and report exactly what it received.

Run standalone: ``python -m tokenizer_acquisition.testing.hub_simulator --repo ID=DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from aiohttp import web

from .faults import DEFAULT_RANDOM_KINDS, Fault, FaultStage
from .hub_routes import ApiOptions, Mode, SimState, build_app
from .hub_store import RepoStore, read_dir
from .recording import RecordedRequest

__all__ = ["HubSimulator", "Mode", "ThreadedHubSimulator", "main"]

_SHUTDOWN_TIMEOUT_S = 1.0


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


class HubSimulator:
    """Hub on ``host`` plus an LFS CDN on ``cdn_host``, sharing one aiohttp app.

    ``mode``: ``hub`` redirects LFS files to the CDN; ``mirror`` serves them directly
    with their sha256 ETag; ``opaque`` serves everything directly with ETags that are
    no content hash. ``relative_redirect`` answers resolve with a relative 307 to
    ``/api/resolve-cache/...`` as the Hub does, which clients must follow with the token.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        cdn_host: str = "127.0.0.2",
        lfs_threshold: int = 10_000_000,
        mode: Mode = "hub",
        *,
        relative_redirect: bool = False,
        port: int = 0,
        cdn_port: int = 0,
        latency: float = 0.0,
    ) -> None:
        if mode not in ("hub", "mirror", "opaque"):
            raise ValueError(f"unknown mode {mode!r}")
        self.host = host
        self.cdn_host = cdn_host
        self._bind = (port, cdn_port)
        self._state = SimState(RepoStore(lfs_threshold), mode, relative_redirect, latency=latency)
        self._runner: web.AppRunner | None = None
        self._ports: tuple[int, int] | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Bind both listeners (port 0 = ephemeral) and serve in the running loop."""
        if self._runner is not None:
            raise RuntimeError("HubSimulator already started")
        hub_sock = _listen(self.host, self._bind[0])
        try:
            cdn_sock = self._listen_cdn()
        except BaseException:
            hub_sock.close()
            raise
        cdn_address = cdn_sock.getsockname()
        self._ports = (hub_sock.getsockname()[1], cdn_address[1])
        self._state.cdn_address = (cdn_address[0], cdn_address[1])
        self._state.cdn_endpoint = f"http://{self.cdn_host}:{self._ports[1]}"
        app = build_app(self._state)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
        try:
            await runner.setup()
            for sock in (hub_sock, cdn_sock):
                await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            hub_sock.close()
            cdn_sock.close()
            self._ports = None
            raise
        self._runner = runner

    def _listen_cdn(self) -> socket.socket:
        try:
            return _listen(self.cdn_host, self._bind[1])
        except OSError:
            # No second loopback address here: same address, other port, and a host
            # *name* that differs so clients still see a cross-host redirect.
            sock = _listen(self.host, self._bind[1])
            self.cdn_host = "localhost"
            return sock

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> HubSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def run_in_thread(self) -> ThreadedHubSimulator:
        """Context manager serving this simulator from a background thread's loop."""
        return ThreadedHubSimulator(self)

    # -- addresses -------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._started()[0]

    @property
    def cdn_port(self) -> int:
        return self._started()[1]

    @property
    def endpoint(self) -> str:
        """``http://host:port``: what HF_ENDPOINT should be."""
        return f"http://{self.host}:{self.port}"

    @property
    def cdn_endpoint(self) -> str:
        self._started()
        return self._state.cdn_endpoint

    def url(self, repo_id: str, path: str, revision: str = "main") -> str:
        """The resolve URL, quoted the way ``huggingface_hub.hf_hub_url`` quotes it."""
        return f"{self.endpoint}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(path)}"

    def _started(self) -> tuple[int, int]:
        if self._ports is None:
            raise RuntimeError("HubSimulator is not started")
        return self._ports

    # -- settings --------------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        return self._state.mode

    @property
    def latency(self) -> float:
        """Seconds every request waits before being handled."""
        return self._state.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._state.latency = seconds

    @property
    def api(self) -> ApiOptions:
        """How ``/api/models`` answers (mutable): see ``ApiOptions``."""
        return self._state.api

    @property
    def tokens(self) -> set[str]:
        """Accepted bearer tokens (mutable)."""
        return self._state.tokens

    def add_token(self, token: str) -> None:
        self._state.tokens.add(token)

    # -- repos -----------------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        *,
        revision: str = "main",
        commit: str | None = None,
        lfs: Iterable[str] | None = None,
        gated: bool = False,
        private: bool = False,
    ) -> str:
        """Create or extend a repo; ``revision`` then points at the returned commit sha.

        Files listed in ``lfs`` or larger than ``lfs_threshold`` are LFS files.
        Without ``commit`` the sha derives from the contents, so it is reproducible.
        """
        store = self._state.store
        return store.add_repo(
            repo_id, files, revision=revision, commit=commit, lfs=lfs, gated=gated, private=private
        )

    def add_repo_from_dir(
        self,
        repo_id: str,
        directory: str | Path,
        *,
        revision: str = "main",
        commit: str | None = None,
        lfs: Iterable[str] | None = None,
        gated: bool = False,
        private: bool = False,
    ) -> str:
        """:meth:`add_repo` with every file under ``directory`` (paths relative to it)."""
        files = read_dir(directory)
        return self.add_repo(
            repo_id, files, revision=revision, commit=commit, lfs=lfs, gated=gated, private=private
        )

    def replace_file(self, repo_id: str, path: str, data: bytes, revision: str = "main") -> str:
        """New commit on ``revision`` with ``path`` changed: new ETag, new X-Repo-Commit."""
        return self._state.store.replace_file(repo_id, path, data, revision)

    def commit_for(self, repo_id: str, revision: str = "main") -> str:
        _, commit = self._state.store.resolve(repo_id, revision)
        if commit is None:
            raise KeyError(f"{repo_id}@{revision}")
        return commit.sha

    # -- faults ----------------------------------------------------------------------

    def inject(
        self, fault: Fault, *, path: str | None = None, times: int = 1, on: FaultStage = "body"
    ) -> None:
        """Apply ``fault`` to the next ``times`` requests for repo file ``path`` (None: any).

        ``on="body"`` targets GETs serving bytes (resolve or CDN); ``on="metadata"``
        targets HEADs and redirect answers, and only takes ``Status`` or ``Latency``.
        """
        self._state.faults.inject(fault, path=path, times=times, stage=on)

    def random_faults(
        self, rate: float, seed: int, kinds: Sequence[Fault] = DEFAULT_RANDOM_KINDS
    ) -> None:
        """Each body request gets one of ``kinds`` with probability ``rate`` (0 disables).

        Reproducible for a given seed and request order; queued faults go first.
        """
        self._state.faults.set_random(rate, seed, kinds)

    def clear_faults(self) -> None:
        self._state.faults.clear()

    @property
    def pending_faults(self) -> int:
        return self._state.faults.pending

    # -- request log -----------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request answered so far, in arrival order of completion."""
        return self._state.log.snapshot()

    def requests_for(self, path_substring: str) -> list[RecordedRequest]:
        return self._state.log.matching(path_substring)

    def file_gets(self, path: str, repo_id: str | None = None) -> list[RecordedRequest]:
        """GETs that served bytes of repo file ``path``, through resolve or the CDN."""
        return self._state.log.file_gets(path, repo_id)

    def clear(self) -> None:
        """Forget the request log (faults and repos stay)."""
        self._state.log.clear()


# -- on a background thread (sync code, subprocess tests) --------------------------------------
# Blocking clients (``huggingface_hub``, subprocesses waited on synchronously) would
# deadlock a simulator living on the caller's own event loop.

class ThreadedHubSimulator:
    """``with ThreadedHubSimulator(sim) as sim:`` serves ``sim`` until the block ends.

    Repos, tokens, faults and the request log stay usable from the calling thread.
    """

    def __init__(self, sim: HubSimulator | None = None, *, timeout: float = 10.0) -> None:
        if sim is None:
            sim = HubSimulator()
        self.sim = sim
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> HubSimulator:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.sim.start())
            except BaseException as exc:  # reported to the caller below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                _drain(loop)

        thread = threading.Thread(target=serve, name="hub-simulator", daemon=True)
        thread.start()
        if not ready.wait(self._timeout):
            raise TimeoutError("hub simulator did not start")
        if failure:
            thread.join(self._timeout)
            raise failure[0]
        self._loop, self._thread = loop, thread
        return self.sim

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        try:
            asyncio.run_coroutine_threadsafe(self.sim.stop(), loop).result(self._timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(self._timeout)


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel leftovers and close the loop without 'task destroyed' warnings."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


# -- the command line: serve directories as repos until SIGINT/SIGTERM -------------------------
# The endpoint is the first stdout line so benchmarks and subprocess tests can read it.

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


if __name__ == "__main__":
    raise SystemExit(main())
