"""Adversarial review of the S3 fleet tier (issue 12) and discovery (issue 11).

Lying servers run on 127.0.0.1 in a thread (``http.server``); every drip loop is bounded
and stops when the client goes away. Each test names its finding in its docstring.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")
pytest.importorskip("botocore")

from support.fake_bucket import COMMIT, FakeHub, MemoryStore
from support.network import MINILM, REPO
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
from tokenizer_acquisition.domain.bucket_layout import (
    BucketSet,
    S3Options,
    blob_key,
    ref_key,
    set_key,
)
from tokenizer_acquisition.domain.errors import (
    AuthenticationFailed,
    IntegrityError,
    NetworkError,
    TokenizerNotFound,
)
from tokenizer_acquisition.domain.fleet import BucketStrategy
from tokenizer_acquisition.domain.manifest import ManifestEntry
from tokenizer_acquisition.domain.options import NetworkOptions
from tokenizer_acquisition.domain.request import TokenizerDownloadInfo

#: Short and alphanumeric, so it fits the ``<Code>`` pattern whole (test session tokens
#: and some S3-compatible stores' keys are).
SESSION_TOKEN = "FwoGZXIvYXdzEJr0SessionTokenSecret0123456789"
SECRET_KEY = "wJalrXUtnFEMIK7MDENGbPxRfiCYSecretKey0123"
ACCESS_KEY = "AKIAREVIEWFLEET0001"
FILES = {"tokenizer.json": b'{"model": {}}', "vocab.txt": b"[PAD]\n[UNK]\nhello\n"}

Answer = tuple[int, dict[str, str], bytes, float]
"""(status, headers, body, seconds between body bytes: 0 sends it at once)."""


class LyingServer:
    """An HTTP server on 127.0.0.1 whose answers ``route(method, path)`` decides."""

    def __init__(self, route: Callable[[str, str], Answer]) -> None:
        self.route = route
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.requests.append((self.command, self.path, dict(self.headers)))
                status, headers, body, drip = outer.route(self.command, self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if not drip:
                        self.wfile.write(body)
                        return
                    for index in range(min(len(body), 400)):  # bounded: 400 drips at most
                        self.wfile.write(body[index:index + 1])
                        self.wfile.flush()
                        time.sleep(drip)
                    self.close_connection = True
                except OSError:
                    self.close_connection = True

            do_GET = do_PUT = do_HEAD = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LyingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _store(endpoint: str, **network: Any) -> Any:
    from botocore.credentials import Credentials

    from tokenizer_acquisition.adapters.s3_bucket import S3ObjectStore

    options = NetworkOptions(endpoint=endpoint, trust_env=False,
                             **{"connect_timeout": 2.0, "read_timeout": 5.0, **network})
    return S3ObjectStore(S3Options(bucket="fleet", prefix="p", endpoint_url=endpoint),
                         options, credentials=Credentials(ACCESS_KEY, SECRET_KEY,
                                                          SESSION_TOKEN),
                         retry_delay=0.01)


def _error_xml(code: str) -> bytes:
    return (f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>m</Message>"
            "</Error>").encode()


def _shown(error: BaseException) -> str:
    parts = [str(error), repr(error), *map(str, error.args)]
    parts.extend(str(v) for v in vars(error).values())
    return "\n".join(parts)


@pytest.fixture
def echoing() -> Iterator[LyingServer]:
    """403 and 400 answers whose ``<Code>`` echoes the session token or the secret key."""
    echoed = {"GET": SESSION_TOKEN, "PUT": SECRET_KEY}

    def route(method: str, path: str) -> Answer:
        status = 403 if method == "GET" else 400
        return status, {"Content-Type": "application/xml"}, _error_xml(echoed[method]), 0

    with LyingServer(route) as server:
        yield server


async def test_an_s3_error_code_echoing_the_session_token_never_reaches_an_error(
        echoing: LyingServer) -> None:
    """Finding 1: the XML <Code> of a 403/400 is put in errors and `info`'s access detail
    as is, so a server echoing the session token (or secret) leaks it."""
    store = _store(echoing.endpoint)
    try:
        with pytest.raises(AuthenticationFailed) as denied:
            await store.get("sets/x.json", max_bytes=1024)
        with pytest.raises(NetworkError) as refused:
            await store.put("blobs/x", b"x", hashlib.sha256(b"x").hexdigest())
        access = await store.probe()
    finally:
        await store.aclose()
    for shown in (_shown(denied.value), _shown(refused.value), access.describe(),
                  str(access.detail)):
        assert SESSION_TOKEN not in shown and SECRET_KEY not in shown, shown
    # The token was really sent (so the server could echo it).
    assert any(h.get("X-Amz-Security-Token") == SESSION_TOKEN for _, _, h in echoing.requests)


def _drip(method: str, path: str) -> Answer:
    return 200, {"Content-Type": "application/json", "Content-Length": "10000"}, \
        b"[" + b" " * 9998 + b"]", 0.25


async def test_a_slow_drip_s3_object_ends_in_a_bounded_time() -> None:
    """Finding 2: an S3 GET whose body drips one byte per 0.25 s (under read_timeout) is
    read for as long as the server likes: no overall bound on a body."""
    with LyingServer(_drip) as server:
        store = _store(server.endpoint, read_timeout=1.0)
        started = time.monotonic()
        try:
            with pytest.raises(NetworkError):
                await asyncio.wait_for(store.get("sets/x.json", max_bytes=1 << 20), 12)
        finally:
            await store.aclose()
        assert time.monotonic() - started < 12


async def test_a_slow_drip_listing_ends_in_a_bounded_time() -> None:
    """Finding 2b: the Hub listing (/api/models/.../revision/...) read by drips is
    unbounded in time (32 MB at one byte per read_timeout)."""
    from tokenizer_acquisition.adapters.aiohttp_remote import AiohttpRemoteFiles

    with LyingServer(_drip) as server:
        remote = AiohttpRemoteFiles(NetworkOptions(endpoint=server.endpoint, trust_env=False,
                                                   connect_timeout=2.0, read_timeout=1.0,
                                                   max_retries=0))
        started = time.monotonic()
        try:
            with pytest.raises(NetworkError):
                await asyncio.wait_for(remote.list_files("org/model", "main"), 12)
        finally:
            await remote.aclose()
        assert time.monotonic() - started < 12


def _filled(store: MemoryStore, repo: str = "org/model") -> None:
    entries = {}
    for name, data in FILES.items():
        sha = hashlib.sha256(data).hexdigest()
        store.write(blob_key(sha), data)
        entries[name] = ManifestEntry(size=len(data), sha256=sha)
    store.write(set_key(repo, COMMIT), BucketSet(repo, COMMIT, entries).to_json())
    store.write(ref_key(repo, "main"), COMMIT.encode())


async def test_a_discovery_request_through_s3_keeps_the_cached_set(tmp_path: Path) -> None:
    """Finding 3: a request without files (discovery) through the s3 strategy published
    an EMPTY set over the key's cached set, then failed with 'removed while acquired'."""
    store = MemoryStore()
    _filled(store)
    cache = FileSystemCache(tmp_path / "cache")
    await FakeHub(cache, FILES).acquire(TokenizerDownloadInfo("org/model", "k",
                                                              ("tokenizer.json",)))
    pod = BucketStrategy(cache, store, S3Options(bucket="fake"))
    with pytest.raises(TokenizerNotFound) as missed:
        await pod.acquire(TokenizerDownloadInfo("org/model", "k"))
    assert "removed while being acquired" not in str(missed.value)
    assert (tmp_path / "cache" / "k" / "tokenizer.json").read_bytes() == FILES["tokenizer.json"]


async def test_a_discovery_request_through_s3_goes_to_its_delegate(tmp_path: Path) -> None:
    """Finding 3b: with a delegate (the network part), a discovery request is the
    delegate's (its result is served), not a 'removed while being acquired' miss."""
    store = MemoryStore()
    cache = FileSystemCache(tmp_path / "cache")

    class Discovering(FakeHub):
        async def acquire(self, info: TokenizerDownloadInfo) -> Any:
            return await super().acquire(info.resolved(tuple(FILES)) if info.discovers
                                         else info)

    hub = Discovering(cache, FILES)
    pod = BucketStrategy(cache, store, S3Options(bucket="fake"), delegate=hub)
    result = await pod.acquire(TokenizerDownloadInfo("org/model", "k"))
    assert set(result.files) == set(FILES) and hub.calls == 1


async def test_a_bucket_blob_is_read_no_further_than_its_manifest_size(
        tmp_path: Path) -> None:
    """Finding 4: blobs were fetched with max_bytes = max_file_bytes (2 GiB), so a bucket
    object far larger than the manifest's size was buffered whole in memory."""
    asked: list[tuple[str, int]] = []

    class Recording(MemoryStore):
        async def get(self, key: str, *, max_bytes: int) -> Any:
            asked.append((key, max_bytes))
            return await super().get(key, max_bytes=max_bytes)

    store = Recording()
    _filled(store)
    huge = b"x" * (1 << 20)
    store.write(blob_key(hashlib.sha256(FILES["vocab.txt"]).hexdigest()), huge)
    pod = BucketStrategy(FileSystemCache(tmp_path / "cache"), store, S3Options(bucket="fake"))
    with pytest.raises((IntegrityError, NetworkError)):
        await pod.acquire(TokenizerDownloadInfo("org/model", "k", tuple(FILES)))
    sizes = {hashlib.sha256(d).hexdigest(): len(d) for d in FILES.values()}
    for key, limit in asked:
        if key.startswith("blobs/"):
            assert limit <= sizes[key.removeprefix("blobs/")] + 1, (key, limit)


def test_bundle_push_with_read_only_credentials_is_a_typed_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Finding 5: `tokacq bundle push` to a bucket that refuses writes raised a bare
    AcquisitionError: exit 1 (INTERNAL, 'a bug'), not a typed AUTH failure."""
    from tokenizer_acquisition.entrypoints.cli import main
    from tokenizer_acquisition.entrypoints.exit_codes import ExitCode
    from tokenizer_acquisition.testing import HubSimulator, ThreadedHubSimulator

    def read_only(method: str, path: str) -> Answer:
        if method == "GET":
            return 404, {"Content-Type": "application/xml"}, _error_xml("NoSuchKey"), 0
        return 403, {"Content-Type": "application/xml"}, _error_xml("AccessDenied"), 0

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "HF_HUB_OFFLINE",
                 "TOKACQ_STRATEGY", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HOME", str(tmp_path))
    with ThreadedHubSimulator(HubSimulator()) as hub, LyingServer(read_only) as bucket:
        hub.add_repo_from_dir(REPO, MINILM)
        config = tmp_path / "c.toml"
        config.write_text(f'[network]\nendpoint = "{hub.endpoint}"\ntrust_env = false\n'
                          f'max_retries = 0\n[s3]\nurl = "s3://fleet/p"\n'
                          f'endpoint_url = "{bucket.endpoint}"\n', encoding="utf-8")
        lock = tmp_path / "tokenizers.lock"
        common = ["--config", str(config), "--cache-dir", str(tmp_path / "cache")]
        assert main(["lock", REPO, "-f", "tokenizer.json", "-o", str(lock), *common,
                     "--strategy", "network"]) == 0
        code = main(["bundle", "push", "--lock", str(lock), "s3://fleet/p", *common])
    out = capsys.readouterr()
    assert code == ExitCode.AUTH, out.err
    assert SECRET_KEY not in out.err + out.out and SESSION_TOKEN not in out.err + out.out
