"""What the reliability tests share: scripted servers, a proxy, TLS, child processes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenizer_acquisition.domain.errors import AcquisitionError

_DROP = ("TOKACQ_", "HF_", "HUGGING_FACE_", "TRANSFORMERS_")
_PROXIES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
TOKACQ = Path(sys.executable).with_name("tokacq")


def child_env(**extra: str) -> dict[str, str]:
    """The machine's environment without Hub settings, tokens or proxies, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_DROP) and k.lower() not in _PROXIES}
    env.update(extra)
    return env


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def typed(error: BaseException) -> bool:
    return isinstance(error, AcquisitionError)


def files_under(root: Path) -> Iterator[Path]:
    """Every regular file under ``root``, bookkeeping included."""
    if root.is_dir():
        for dirpath, _, names in os.walk(root):
            for name in names:
                path = Path(dirpath) / name
                if path.is_file():
                    yield path


def error_text(error: BaseException) -> str:
    """Everything an error shows: str, repr, fields, suggestions, and its cause chain."""
    parts = [str(error), repr(error), repr(vars(error)) if hasattr(error, "__dict__") else ""]
    parts += [str(s) for s in getattr(error, "suggestions", ())]
    for attempt in getattr(error, "attempts", ()):
        if attempt.error is not None:
            parts.append(error_text(attempt.error))
    if error.__cause__ is not None:
        parts.append(error_text(error.__cause__))
    return "\n".join(parts)


# -- a loopback server answering with scripted bytes -----------------------------------------

class ScriptedServer:
    """Answers every connection on 127.0.0.1 with ``answer`` (raw HTTP bytes), then closes."""

    def __init__(self) -> None:
        self.answer = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
        self.requests: list[bytes] = []
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                sock.settimeout(2.0)
                head = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        chunk = sock.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                    owner.requests.append(head)
                    sock.sendall(owner.answer)
                    sock.shutdown(socket.SHUT_WR)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- a forward proxy (absolute-form GET and CONNECT) ------------------------------------------

@dataclass
class Proxy:
    """A loopback HTTP proxy: forwards ``GET http://...`` and tunnels ``CONNECT host:port``."""

    seen: list[str] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._track, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._handlers:  # Python 3.11's wait_closed does not wait for them
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._handlers.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            self.seen.append(f"{method} {target}")
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                up_reader, upstream = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:  # absolute-form: rewrite to origin-form, forward the rest verbatim
                from yarl import URL

                url = URL(target)
                up_reader, upstream = await asyncio.open_connection(url.host, url.port)
                rest = head.split(b"\r\n", 1)[1]
                upstream.write(f"{method} {url.raw_path_qs} HTTP/1.1\r\n".encode() + rest)
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            for stream in (upstream, writer):
                if stream is not None:
                    stream.close()
                    with contextlib.suppress(OSError):
                        await stream.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.write_eof()


# -- a TLS file server -----------------------------------------------------------------------

@dataclass
class TlsFiles:
    """An HTTPS server on 127.0.0.1 serving ``files`` at ``/{repo}/resolve/main/{name}``."""

    files: Mapping[str, bytes]
    context: ssl.SSLContext
    repo: str = "org/tls"
    port: int = 0
    hits: int = 0
    _runner: Any = None

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def __aenter__(self) -> TlsFiles:
        from aiohttp import web

        from tokenizer_acquisition.testing.hub_store import git_blob_sha1

        async def serve(request: web.Request) -> web.StreamResponse:
            self.hits += 1
            name = request.match_info["name"]
            if name not in self.files:
                return web.Response(status=404, headers={"X-Error-Code": "EntryNotFound"})
            data = self.files[name]
            # One request per connection: nothing is left open when the server stops.
            return web.Response(body=data, headers={"ETag": f'"{git_blob_sha1(data)}"',
                                                    "Connection": "close"})

        app = web.Application()
        app.router.add_get(f"/{self.repo}/resolve/main/{{name}}", serve)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.context)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()
        await asyncio.sleep(0.05)  # let closing TLS transports finish before the loop ends


# -- child processes -------------------------------------------------------------------------

def run_python(code: str, args: Sequence[str], *, env: Mapping[str, str] | None = None,
               timeout: float = 60, preexec_fn: Callable[[], None] | None = None,
               prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-c", code, *args], capture_output=True,
                          text=True,
                          env=dict(env) if env is not None else child_env(),
                          timeout=timeout, preexec_fn=preexec_fn)


def without_root_powers() -> list[str]:
    """A command prefix under which permission bits apply even to root (no DAC override)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


#: A child that acquires one request and prints its outcome as one JSON line.
ACQUIRE_CHILD = """
import asyncio, json, sys
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.download_policy import Backoff
from tokenizer_acquisition.domain.errors import AcquisitionError
from tokenizer_acquisition.strategies import CacheOnlyAcquisition, NetworkAcquisition

async def main(strategy_name, cache, endpoint, repo, key, *files):
    if strategy_name == "cache-only":
        strategy = CacheOnlyAcquisition(cache)
    else:
        strategy = NetworkAcquisition(cache, endpoint=endpoint, trust_env=False, max_retries=2,
                                      backoff=Backoff(base=0.001, cap=0.01))
    try:
        result = await strategy.acquire(TokenizerDownloadInfo(repo, key, tuple(files)))
        out = {"ok": True, "path": str(result.path), "bytes": result.bytes_downloaded}
    except AcquisitionError as error:
        out = {"ok": False, "type": type(error).__name__, "message": error.message,
               "typed": True, "path": str(getattr(error, "path", "") or ""),
               "reason": getattr(error, "reason", None)}
    except BaseException as error:
        out = {"ok": False, "type": type(error).__name__, "message": str(error),
               "typed": False}
    finally:
        await strategy.aclose()
    print(json.dumps(out), flush=True)

asyncio.run(main(*sys.argv[1:]))
"""


def outcome(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The child's JSON line; a crash (no line) is reported as untyped."""
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            parsed: dict[str, Any] = json.loads(line)
            return parsed
    return {"ok": False, "typed": False, "type": "crash", "message": done.stderr[-2000:]}
