"""The aiohttp adapter's headers and status handling, against aioresponses (no sockets)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

aioresponses_module = pytest.importorskip("aioresponses")

from tokenizer_acquisition.adapters.aiohttp_remote import AiohttpRemoteFiles  # noqa: E402
from tokenizer_acquisition.domain.download_policy import Backoff  # noqa: E402
from tokenizer_acquisition.domain.errors import (  # noqa: E402
    EntryNotFound,
    GatedRepository,
    IntegrityError,
    NetworkError,
    RateLimited,
    RepositoryNotFound,
)
from tokenizer_acquisition.domain.options import NetworkOptions, Secret  # noqa: E402
from tokenizer_acquisition.domain.verification import git_blob_prefix  # noqa: E402
from tokenizer_acquisition.ports.remote import RemoteFile  # noqa: E402

pytestmark = pytest.mark.mock

ENDPOINT = "https://hub.test"
CDN = "https://cdn.test/blob/abc"
URL = f"{ENDPOINT}/org/m/resolve/main/config.json"
TOKEN = "hf_MockToken0123456789"
DATA = b'{"model_type": "bert"}'
#: Commits as the Hub names them (40 hex): anything else is not taken for one.
C1 = "c1" * 20
C2 = "c2" * 20
GIT = hashlib.sha1(git_blob_prefix(len(DATA)) + DATA).hexdigest()
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def mocked() -> Any:
    with aioresponses_module.aioresponses() as m:
        yield m


@pytest.fixture
async def remote() -> AsyncIterator[tuple[AiohttpRemoteFiles, list[float]]]:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    options = NetworkOptions(endpoint=ENDPOINT, token=Secret(TOKEN), max_retries=2,
                             user_agent="my-service/1.0")
    adapter = AiohttpRemoteFiles(options, backoff=Backoff(base=1.0, cap=4.0),
                                 rand=lambda: 0.5, sleep=sleep)
    yield adapter, sleeps
    await adapter.aclose()


def _file(tmp_path: Path, url: str = URL) -> RemoteFile:
    return RemoteFile(url=url, file="config.json", staged=tmp_path / "config.part",
                      repo="org/m", revision="main", max_bytes=10_000)


def _headers(mocked: Any, url: str) -> list[dict[str, str]]:
    calls = [c for (method, u), cs in mocked.requests.items() for c in cs
             if method == "GET" and str(u) == url]
    return [dict(c.kwargs["headers"]) for c in calls]


async def test_request_headers(mocked: Any, remote: Any, tmp_path: Path) -> None:
    """identity encoding, our User-Agent plus the custom one, and the bearer token."""
    adapter, _ = remote
    mocked.get(URL, status=200, body=DATA, headers={
        "ETag": f'"{GIT}"', "X-Repo-Commit": C1, "Content-Length": str(len(DATA))})
    fetched = await adapter.download(_file(tmp_path))
    (headers,) = _headers(mocked, URL)
    assert headers["Accept-Encoding"] == "identity"
    assert re.match(r"tokenizer-acquisition/\S+ my-service/1.0$", headers["User-Agent"])
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Range" not in headers
    assert (fetched.size, fetched.sha256, fetched.git_sha1) == (len(DATA), SHA, GIT)
    assert (fetched.etag, fetched.commit, fetched.announced_size) == (GIT, C1, len(DATA))


async def test_cross_host_redirect_drops_token(mocked: Any, remote: Any,
                                               tmp_path: Path) -> None:
    """The 302 to the CDN is followed by hand, without Authorization; X-Linked-* are kept."""
    adapter, _ = remote
    mocked.get(URL, status=302, headers={"Location": CDN, "X-Linked-Etag": f'"{SHA}"',
                                         "X-Linked-Size": str(len(DATA)),
                                         "X-Repo-Commit": C2})
    mocked.get(CDN, status=200, body=DATA, headers={"ETag": '"s3-etag"'})
    fetched = await adapter.download(_file(tmp_path))
    assert "Authorization" in _headers(mocked, URL)[0]
    assert "Authorization" not in _headers(mocked, CDN)[0]
    assert (fetched.etag, fetched.commit, fetched.announced_size) == (SHA, C2, len(DATA))


async def test_relative_redirect_keeps_token(mocked: Any, remote: Any, tmp_path: Path) -> None:
    """A relative Location resolves against the endpoint and keeps Authorization."""
    adapter, _ = remote
    target = f"{ENDPOINT}/api/resolve-cache/models/org/m/c3/config.json"
    mocked.get(URL, status=307, headers={"Location": "/api/resolve-cache/models/org/m/c3/"
                                                     "config.json"})
    mocked.get(target, status=200, body=DATA, headers={"ETag": f'"{GIT}"'})
    await adapter.download(_file(tmp_path))
    assert _headers(mocked, target)[0]["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(("status", "headers", "cls"), [
    (404, {"X-Error-Code": "EntryNotFound"}, EntryNotFound),
    (401, {"X-Error-Code": "RepoNotFound"}, RepositoryNotFound),
    (403, {"X-Error-Code": "GatedRepo"}, GatedRepository),
    (400, {}, NetworkError),
])
async def test_status_mapping_without_retry(mocked: Any, remote: Any, tmp_path: Path,
                                            status: int, headers: dict[str, str],
                                            cls: type[NetworkError]) -> None:
    """Non-retryable statuses raise their typed error after one request, no sleeping."""
    adapter, sleeps = remote
    mocked.get(URL, status=status, headers=headers, repeat=True)
    with pytest.raises(cls) as raised:
        await adapter.download(_file(tmp_path))
    assert raised.value.status == status and TOKEN not in str(raised.value)
    assert len(_headers(mocked, URL)) == 1 and sleeps == []


async def test_retry_after_is_slept(mocked: Any, remote: Any, tmp_path: Path) -> None:
    """429 + Retry-After: the adapter sleeps exactly that long, then succeeds."""
    adapter, sleeps = remote
    mocked.get(URL, status=429, headers={"Retry-After": "7"})
    mocked.get(URL, status=200, body=DATA, headers={"ETag": f'"{GIT}"'})
    await adapter.download(_file(tmp_path))
    assert sleeps == [7.0]


async def test_5xx_backs_off_with_jitter(mocked: Any, remote: Any, tmp_path: Path) -> None:
    """503, 503, 200: two backoff sleeps of rand * base * 2**(n-1)."""
    adapter, sleeps = remote
    mocked.get(URL, status=503)
    mocked.get(URL, status=503)
    mocked.get(URL, status=200, body=DATA, headers={"ETag": f'"{GIT}"'})
    await adapter.download(_file(tmp_path))
    assert sleeps == [0.5, 1.0]


async def test_persistent_429_is_rate_limited(mocked: Any, remote: Any, tmp_path: Path) -> None:
    """After max_retries the last 429 becomes RateLimited with its hint."""
    adapter, sleeps = remote
    mocked.get(URL, status=429, headers={"Retry-After": "2"}, repeat=True)
    with pytest.raises(RateLimited) as raised:
        await adapter.download(_file(tmp_path))
    assert raised.value.retry_after == 2.0 and sleeps == [2.0, 2.0]


async def test_resume_sends_range_and_if_range(mocked: Any, remote: Any, tmp_path: Path) -> None:
    """A partial with a validator is continued with Range + If-Range and appended to."""
    adapter, _ = remote
    staged = tmp_path / "config.part"
    staged.write_bytes(DATA[:5])
    staged.with_name(staged.name + ".validator.json").write_text(
        f'{{"identity": "{GIT}", "etag": "{GIT}", "total": {len(DATA)}, "url": "{URL}"}}')
    mocked.get(URL, status=206, body=DATA[5:], headers={
        "ETag": f'"{GIT}"', "Content-Range": f"bytes 5-{len(DATA) - 1}/{len(DATA)}"})
    fetched = await adapter.download(_file(tmp_path))
    (headers,) = _headers(mocked, URL)
    assert headers["Range"] == "bytes=5-" and headers["If-Range"] == f'"{GIT}"'
    assert fetched.resumed and fetched.received == len(DATA) - 5 and fetched.sha256 == SHA
    assert staged.read_bytes() == DATA


async def test_416_discards_the_partial(mocked: Any, remote: Any, tmp_path: Path) -> None:
    """416 to a ranged request: the partial is dropped and the file fetched whole."""
    adapter, sleeps = remote
    staged = tmp_path / "config.part"
    staged.write_bytes(b"garbage-prefix")
    staged.with_name(staged.name + ".validator.json").write_text(
        f'{{"identity": "{GIT}", "etag": "{GIT}", "total": 99, "url": "{URL}"}}')
    mocked.get(URL, status=416, headers={"Content-Range": f"bytes */{len(DATA)}"})
    mocked.get(URL, status=200, body=DATA, headers={"ETag": f'"{GIT}"'})
    fetched = await adapter.download(_file(tmp_path))
    first, second = _headers(mocked, URL)
    assert "Range" in first and "Range" not in second
    assert not fetched.resumed and staged.read_bytes() == DATA and sleeps == []


async def test_announced_size_over_limit(mocked: Any, remote: Any, tmp_path: Path) -> None:
    """X-Linked-Size above max_bytes is refused without retrying."""
    adapter, sleeps = remote
    mocked.get(URL, status=302, headers={"Location": CDN, "X-Linked-Size": "999999",
                                         "X-Linked-Etag": f'"{SHA}"'})
    with pytest.raises(IntegrityError) as raised:
        await adapter.download(_file(tmp_path))
    assert raised.value.check == "max_file_bytes" and sleeps == []
    assert _headers(mocked, CDN) == []
