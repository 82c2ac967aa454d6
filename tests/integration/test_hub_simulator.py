"""The Hub simulator speaks the Hub download protocol and misbehaves exactly as asked.

Everything goes over real loopback sockets; assertions are on bytes and headers seen
by a client and on the simulator's own request log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tokenizer_acquisition.testing import (
    Corrupt,
    Endless,
    ExtraBytes,
    HubSimulator,
    IgnoreRange,
    Latency,
    ResetAfter,
    SlowDrip,
    Status,
    ThreadedHubSimulator,
    Truncate,
    WrongLength,
    hf_env,
    patched_hf_endpoint,
)

pytestmark = pytest.mark.timeout(30)

FIXTURE_DIR = Path(__file__).parents[1] / "fixtures" / "sentence-transformers" / "all-MiniLM-L6-v2"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SMALL = "org/small"
DATA = bytes(range(256)) * 40  # 10 240 bytes, every offset distinguishable mod 256
TOKEN = "hf_sim_test_token_0123456789"


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fixture_bytes(name: str) -> bytes:
    return (FIXTURE_DIR / name).read_bytes()


def populate(sim: HubSimulator) -> None:
    sim.add_repo_from_dir(MINILM, FIXTURE_DIR, lfs=["tokenizer.json"])
    sim.add_repo(SMALL, {"data.bin": DATA, "dir/nested.txt": b"nested"}, lfs=["big.bin"])
    sim.add_repo("org/gated", {"a.txt": b"gated"}, gated=True)
    sim.add_repo("org/private", {"a.txt": b"private"}, private=True)
    sim.add_token(TOKEN)


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Faults must be deliberate: the server itself may never log an error."""
    caplog.set_level(logging.WARNING, logger="aiohttp")
    yield
    errors = [r for r in caplog.records if r.name.startswith("aiohttp") and r.levelno >= 40]
    assert not errors, [r.getMessage() for r in errors]


@pytest.fixture
async def sim() -> AsyncIterator[HubSimulator]:
    async with HubSimulator() as simulator:
        populate(simulator)
        yield simulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:
        yield client


@pytest.fixture
def threaded_sim() -> Iterator[HubSimulator]:
    with ThreadedHubSimulator(HubSimulator()) as simulator:
        populate(simulator)
        yield simulator


async def read_until_error(resp: aiohttp.ClientResponse) -> tuple[bytes, BaseException | None]:
    received = bytearray()
    try:
        async for chunk in resp.content.iter_any():
            received += chunk
    except aiohttp.ClientPayloadError as exc:
        return bytes(received), exc
    return bytes(received), None


# -- regular files, LFS and the CDN ------------------------------------------------------


async def test_regular_file_has_hub_headers_and_git_sha1_etag(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """A regular file is served 200 with git-blob-sha1 ETag, X-Repo-Commit and its length."""
    data = fixture_bytes("config.json")
    async with session.get(sim.url(MINILM, "config.json")) as resp:
        body = await resp.read()
    assert resp.status == 200
    assert body == data
    assert resp.headers["ETag"] == f'"{git_sha1(data)}"'
    assert resp.headers["X-Repo-Commit"] == sim.commit_for(MINILM)
    assert resp.headers["Content-Length"] == str(len(data))
    assert resp.headers["Accept-Ranges"] == "bytes"
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["X-Request-Id"]
    assert "X-Linked-Etag" not in resp.headers


async def test_head_announces_length_without_body(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """HEAD on a regular file carries the GET's headers and no body bytes."""
    async with session.head(sim.url(SMALL, "data.bin")) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Length"] == str(len(DATA))
        assert resp.headers["ETag"] == f'"{git_sha1(DATA)}"'
    assert sim.requests[-1].bytes_sent == 0


async def test_lfs_file_redirects_to_cdn_host_with_linked_headers(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """An LFS file answers 302 to the CDN host with X-Linked-Etag/Size; the CDN serves it."""
    data = fixture_bytes("tokenizer.json")
    async with session.head(sim.url(MINILM, "tokenizer.json"), allow_redirects=False) as resp:
        assert resp.status == 302
        headers = resp.headers
    location = urlsplit(headers["Location"])
    assert location.hostname == sim.cdn_host != urlsplit(sim.endpoint).hostname
    assert location.port == sim.cdn_port
    assert headers["X-Linked-Etag"] == f'"{sha256(data)}"'
    assert headers["X-Linked-Size"] == str(len(data))
    assert headers["X-Repo-Commit"] == sim.commit_for(MINILM)
    assert headers["ETag"].strip('"') != sha256(data)
    assert not any(h.lower().startswith("x-xet") for h in headers)

    async with session.get(headers["Location"]) as resp:
        assert resp.status == 200
        assert resp.headers["ETag"] == f'"{sha256(data)}"'
        assert await resp.read() == data
    (cdn_get,) = sim.file_gets("tokenizer.json")
    assert cdn_get.listener == "cdn" and cdn_get.repo_id == MINILM
    assert cdn_get.bytes_sent == len(data)


async def test_files_above_lfs_threshold_are_lfs(session: aiohttp.ClientSession) -> None:
    """A file larger than lfs_threshold is redirected even when not listed in lfs=."""
    async with HubSimulator(lfs_threshold=100) as sim:
        sim.add_repo(SMALL, {"data.bin": DATA, "tiny.txt": b"x"})
        async with session.head(sim.url(SMALL, "data.bin"), allow_redirects=False) as resp:
            assert resp.status == 302
        async with session.head(sim.url(SMALL, "tiny.txt"), allow_redirects=False) as resp:
            assert resp.status == 200


async def test_cdn_falls_back_to_localhost_name_when_second_loopback_is_unbindable(
    session: aiohttp.ClientSession,
) -> None:
    """If cdn_host cannot be bound, the CDN listens beside the hub but under the name localhost."""
    async with HubSimulator(cdn_host="192.0.2.1") as sim:  # TEST-NET: never local
        sim.add_repo(SMALL, {"data.bin": DATA}, lfs=["data.bin"])
        assert sim.cdn_host == "localhost"
        async with session.get(sim.url(SMALL, "data.bin"), allow_redirects=False) as resp:
            location = urlsplit(resp.headers["Location"])
        assert (location.hostname, location.port) == ("localhost", sim.cdn_port)
        async with session.get(f"http://127.0.0.1:{sim.cdn_port}{location.path}") as resp:
            assert await resp.read() == DATA


async def test_hub_and_cdn_may_share_a_port_number_on_two_addresses(
    session: aiohttp.ClientSession,
) -> None:
    """With the same port on 127.0.0.1 and 127.0.0.2, requests still reach the right listener."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    async with HubSimulator(port=port, cdn_port=port) as sim:
        if sim.cdn_host == "localhost":
            pytest.skip("127.0.0.2 cannot be bound here")
        sim.add_repo(SMALL, {"data.bin": DATA, "lfs.bin": b"lfs"}, lfs=["lfs.bin"])
        assert sim.port == sim.cdn_port == port
        for path, data in (("data.bin", DATA), ("lfs.bin", b"lfs")):
            async with session.get(sim.url(SMALL, path)) as resp:
                assert await resp.read() == data
        assert [r.listener for r in sim.requests] == ["hub", "hub", "cdn"]


# -- revisions ------------------------------------------------------------------------------


async def test_revisions_branch_commit_sha_and_quoted_slash(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """Branches, full commit shas and %2F-quoted revisions all resolve to their own commit."""
    main_sha = sim.commit_for(SMALL)
    pr_sha = sim.add_repo(SMALL, {"data.bin": b"pr content"}, revision="refs/pr/1")
    assert len(pr_sha) == 40 and pr_sha != main_sha
    cases = [
        ("main", DATA, main_sha),
        (main_sha, DATA, main_sha),
        ("refs/pr/1", b"pr content", pr_sha),
    ]
    for revision, expected, sha in cases:
        async with session.get(sim.url(SMALL, "data.bin", revision)) as resp:
            assert await resp.read() == expected
            assert resp.headers["X-Repo-Commit"] == sha
    assert "/resolve/refs%2Fpr%2F1/" in sim.requests[-1].path


async def test_replace_file_changes_commit_and_etag_but_old_commit_still_serves(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """replace_file makes a new commit and ETag on the branch; the old sha keeps old bytes."""
    old_sha = sim.commit_for(SMALL)
    new_sha = sim.replace_file(SMALL, "data.bin", b"changed")
    assert new_sha != old_sha
    async with session.get(sim.url(SMALL, "data.bin")) as resp:
        assert await resp.read() == b"changed"
        assert resp.headers["ETag"] == f'"{git_sha1(b"changed")}"'
        assert resp.headers["X-Repo-Commit"] == new_sha
    async with session.get(sim.url(SMALL, "data.bin", old_sha)) as resp:
        assert await resp.read() == DATA


async def test_commit_sha_is_deterministic_and_can_be_given() -> None:
    """The derived commit depends only on contents; an explicit commit is used verbatim."""
    one, two = HubSimulator(), HubSimulator()
    assert one.add_repo("a/b", {"f": b"1"}) == two.add_repo("a/b", {"f": b"1"})
    assert one.add_repo("a/c", {"f": b"1"}, commit="a" * 40) == "a" * 40
    with pytest.raises(ValueError, match="40"):
        one.add_repo("a/d", {"f": b"1"}, commit="abc")


# -- ranges ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        ("bytes=1000-", 1000, len(DATA) - 1),
        ("bytes=10-19", 10, 19),
        ("bytes=-16", len(DATA) - 16, len(DATA) - 1),
    ],
)
async def test_range_returns_206_with_content_range(
    sim: HubSimulator, session: aiohttp.ClientSession, range_header: str, start: int, end: int
) -> None:
    """A satisfiable Range answers 206 with exactly those bytes and Content-Range."""
    async with session.get(sim.url(SMALL, "data.bin"), headers={"Range": range_header}) as resp:
        assert resp.status == 206
        assert await resp.read() == DATA[start : end + 1]
        assert resp.headers["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"


async def test_range_on_cdn_with_if_range_matching_sha256(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """The CDN honours Range when If-Range equals its sha256 ETag (quoted or weak)."""
    data = fixture_bytes("tokenizer.json")
    for if_range in (f'"{sha256(data)}"', f'W/"{sha256(data)}"'):
        headers = {"Range": "bytes=100-", "If-Range": if_range}
        async with session.get(sim.url(MINILM, "tokenizer.json"), headers=headers) as resp:
            assert resp.status == 206
            assert await resp.read() == data[100:]


async def test_if_range_mismatch_sends_whole_file(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """If-Range naming another ETag makes the Range void: 200 and the full body."""
    headers = {"Range": "bytes=100-", "If-Range": '"0000"'}
    async with session.get(sim.url(SMALL, "data.bin"), headers=headers) as resp:
        assert resp.status == 200
        assert "Content-Range" not in resp.headers
        assert await resp.read() == DATA


async def test_range_past_end_is_416(sim: HubSimulator, session: aiohttp.ClientSession) -> None:
    """A Range starting at or after the size answers 416 with Content-Range bytes */SIZE."""
    for start in (len(DATA), len(DATA) + 5):
        headers = {"Range": f"bytes={start}-"}
        async with session.get(sim.url(SMALL, "data.bin"), headers=headers) as resp:
            assert resp.status == 416
            assert resp.headers["Content-Range"] == f"bytes */{len(DATA)}"


# -- errors and auth ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repo_id", "revision", "path", "token", "status", "code"),
    [
        ("org/missing", "main", "a.txt", None, 401, "RepoNotFound"),
        (SMALL, "nope", "data.bin", None, 404, "RevisionNotFound"),
        (SMALL, "main", "nope.bin", None, 404, "EntryNotFound"),
        ("org/gated", "main", "a.txt", None, 403, "GatedRepo"),
        ("org/gated", "main", "a.txt", "wrong", 403, "GatedRepo"),
        ("org/private", "main", "a.txt", None, 401, "RepoNotFound"),
        ("org/private", "main", "a.txt", "wrong", 401, "RepoNotFound"),
    ],
)
async def test_errors_carry_hub_error_headers(
    sim: HubSimulator,
    session: aiohttp.ClientSession,
    repo_id: str,
    revision: str,
    path: str,
    token: str | None,
    status: int,
    code: str,
) -> None:
    """Each failure answers its status with X-Error-Code/-Message, X-Request-Id and JSON."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.get(sim.url(repo_id, path, revision), headers=headers) as resp:
        assert resp.status == status
        assert resp.headers["X-Error-Code"] == code
        assert resp.headers["X-Error-Message"]
        assert resp.headers["X-Request-Id"] == sim.requests[-1].request_id
        assert (await resp.json())["error"] == resp.headers["X-Error-Message"]
    if code == "EntryNotFound":
        assert resp.headers["X-Repo-Commit"] == sim.commit_for(repo_id)


@pytest.mark.parametrize("repo_id", ["org/gated", "org/private"])
async def test_valid_token_opens_gated_and_private_repos(
    sim: HubSimulator, session: aiohttp.ClientSession, repo_id: str
) -> None:
    """A bearer token from sim.tokens unlocks gated and private repos."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with session.get(sim.url(repo_id, "a.txt"), headers=headers) as resp:
        assert resp.status == 200
        assert await resp.read() == repo_id.split("/")[1].encode()


# -- faults ---------------------------------------------------------------------------------


async def raw_get(sim: HubSimulator, path: str) -> tuple[bytes, bytes, str]:
    """GET over a bare socket: (head, body, how the connection ended: eof/reset/open)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    target = urlsplit(sim.url(SMALL, path)).path
    writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{sim.port}\r\n\r\n".encode())
    received, ending = b"", "eof"
    try:
        async with asyncio.timeout(5):
            while chunk := await reader.read(65536):
                received += chunk
    except ConnectionResetError:
        ending = "reset"
    except TimeoutError:
        ending = "open"
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    head, _, body = received.partition(b"\r\n\r\n")
    return head, body, ending


async def test_reset_after_sends_n_bytes_then_rst(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """ResetAfter(n): headers plus n bytes, then a TCP reset (not a clean close)."""
    sim.inject(ResetAfter(1000))
    head, body, ending = await raw_get(sim, "data.bin")
    assert head.startswith(b"HTTP/1.1 200")
    assert f"Content-Length: {len(DATA)}".encode() in head
    assert (body, ending) == (DATA[:1000], "reset")
    record = sim.file_gets("data.bin")[-1]
    assert (record.bytes_sent, record.fault) == (1000, "ResetAfter(n_bytes=1000)")

    sim.inject(ResetAfter(1000))
    async with session.get(sim.url(SMALL, "data.bin")) as resp:
        received, error = await read_until_error(resp)
    assert received == DATA[:1000]
    assert isinstance(error, aiohttp.ClientPayloadError) and "ConnectionResetError" in str(error)


async def test_truncate_announces_full_length_and_closes_early(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """Truncate(n): Content-Length is the real size, n bytes arrive, then a clean FIN."""
    sim.inject(Truncate(500))
    head, body, ending = await raw_get(sim, "data.bin")
    assert f"Content-Length: {len(DATA)}".encode() in head
    assert (body, ending) == (DATA[:500], "eof")
    assert sim.file_gets("data.bin")[-1].bytes_sent == 500

    sim.inject(Truncate(500))
    async with session.get(sim.url(SMALL, "data.bin")) as resp:
        received, error = await read_until_error(resp)
    assert received == DATA[:500]
    assert isinstance(error, aiohttp.ClientPayloadError)
    assert "ConnectionResetError" not in str(error)


async def test_faults_apply_to_cdn_by_repo_path(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """A fault for an LFS path hits its CDN body request, not the redirect or other files."""
    sim.inject(Truncate(10), path="tokenizer.json")
    async with session.get(sim.url(MINILM, "vocab.txt")) as resp:
        assert await resp.read() == fixture_bytes("vocab.txt")
    async with session.get(sim.url(MINILM, "tokenizer.json")) as resp:
        received, error = await read_until_error(resp)
    assert len(received) == 10 and error is not None
    assert sim.file_gets("tokenizer.json")[-1].listener == "cdn"
    assert sim.pending_faults == 0


async def test_ignore_range_sends_full_200(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """IgnoreRange: a Range request gets 200 and the whole file."""
    sim.inject(IgnoreRange())
    async with session.get(sim.url(SMALL, "data.bin"), headers={"Range": "bytes=100-"}) as resp:
        assert resp.status == 200
        assert await resp.read() == DATA


async def test_status_fault_429_with_retry_after_then_recovers(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """Status(429, Retry-After) answers once (times=1); the next request gets the file."""
    sim.inject(Status(429, {"Retry-After": "1"}, b"slow down"))
    async with session.get(sim.url(SMALL, "data.bin")) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "1"
        assert await resp.read() == b"slow down"
    async with session.get(sim.url(SMALL, "data.bin")) as resp:
        assert resp.status == 200
        assert await resp.read() == DATA


async def test_times_applies_fault_that_many_times(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """times=2 faults exactly the next two matching body requests."""
    sim.inject(Status(503), path="data.bin", times=2)
    statuses = []
    for _ in range(3):
        async with session.get(sim.url(SMALL, "data.bin")) as resp:
            statuses.append(resp.status)
    assert statuses == [503, 503, 200]


async def test_metadata_fault_hits_head_not_body(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """on="metadata" faults the HEAD; the GET body request is left alone."""
    sim.inject(Status(503), on="metadata")
    async with session.get(sim.url(SMALL, "data.bin")) as resp:
        assert resp.status == 200
    async with session.head(sim.url(SMALL, "data.bin")) as resp:
        assert resp.status == 503
    with pytest.raises(ValueError, match="body"):
        sim.inject(Truncate(1), on="metadata")


async def test_corrupt_flips_one_byte_and_keeps_headers(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """Corrupt(offset): same length and ETag, exactly one byte differs, at that offset."""
    sim.inject(Corrupt(offset=4321))
    async with session.get(sim.url(SMALL, "data.bin")) as resp:
        body = await resp.read()
        assert resp.headers["ETag"] == f'"{git_sha1(DATA)}"'
    assert len(body) == len(DATA)
    assert [i for i in range(len(DATA)) if body[i] != DATA[i]] == [4321]


async def test_wrong_length_positive_delta_leaves_body_short(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """WrongLength(+d): Content-Length is size+d, the true bytes arrive, then the close."""
    sim.inject(WrongLength(10))
    async with session.get(sim.url(SMALL, "data.bin")) as resp:
        assert resp.headers["Content-Length"] == str(len(DATA) + 10)
        received, error = await read_until_error(resp)
    assert received == DATA and isinstance(error, aiohttp.ClientPayloadError)


async def test_wrong_length_negative_delta_sends_announced_prefix(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """WrongLength(-d): a well-framed body of size-d bytes that is silently short."""
    sim.inject(WrongLength(-10))
    async with session.get(sim.url(SMALL, "data.bin")) as resp:
        assert resp.headers["Content-Length"] == str(len(DATA) - 10)
        assert await resp.read() == DATA[:-10]


async def test_extra_bytes_are_chunked_without_length(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """ExtraBytes(n): no Content-Length, chunked, the file followed by n more bytes."""
    sim.inject(ExtraBytes(77))
    async with session.get(sim.url(SMALL, "data.bin")) as resp:
        assert "Content-Length" not in resp.headers
        assert resp.headers["Transfer-Encoding"] == "chunked"
        body = await resp.read()
    assert body[: len(DATA)] == DATA and len(body) == len(DATA) + 77
    assert sim.file_gets("data.bin")[-1].bytes_sent == len(DATA) + 77


async def test_endless_body_stops_at_cap(sim: HubSimulator, session: aiohttp.ClientSession) -> None:
    """Endless(cap): a chunked body that only ends at the cap, starting with the file."""
    cap = 1 << 20
    sim.inject(Endless(cap_bytes=cap))
    async with session.get(sim.url(SMALL, "data.bin")) as resp:
        body = await resp.read()
    assert len(body) == cap and body.startswith(DATA)


async def test_endless_body_stops_when_client_leaves(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """Endless(): the server stops writing once the client disconnects."""
    sim.inject(Endless())
    async with session.get(sim.url(SMALL, "data.bin")) as resp:
        await resp.content.readexactly(200_000)
        resp.close()
    for _ in range(200):
        if sim.file_gets("data.bin"):
            break
        await asyncio.sleep(0.01)
    (record,) = sim.file_gets("data.bin")
    assert 200_000 <= record.bytes_sent < 1 << 30


async def test_slow_drip_paces_the_body(sim: HubSimulator, session: aiohttp.ClientSession) -> None:
    """SlowDrip(chunk, delay): correct bytes, at least (chunks-1)*delay late."""
    sim.inject(SlowDrip(chunk_size=2048, delay_s=0.05))
    started = time.monotonic()
    async with session.get(sim.url(SMALL, "data.bin")) as resp:
        assert await resp.read() == DATA
    assert time.monotonic() - started >= 4 * 0.05


async def test_latency_fault_and_global_latency_delay_answers(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """Latency(s) delays one answer; sim.latency delays every request."""
    sim.inject(Latency(0.3))
    started = time.monotonic()
    async with session.get(sim.url(SMALL, "data.bin")) as resp:
        await resp.read()
    assert time.monotonic() - started >= 0.3
    sim.latency = 0.2
    started = time.monotonic()
    async with session.get(sim.endpoint + f"/api/models/{SMALL}") as resp:
        await resp.read()
    assert time.monotonic() - started >= 0.2


async def test_random_faults_are_reproducible_for_a_seed(session: aiohttp.ClientSession) -> None:
    """random_faults with one seed faults the same requests the same way every run."""

    async def run(seed: int) -> list[str | None]:
        async with HubSimulator() as sim:
            sim.add_repo(SMALL, {"data.bin": DATA})
            sim.random_faults(0.5, seed, kinds=(Status(503), Status(429), IgnoreRange()))
            for _ in range(20):
                async with session.get(sim.url(SMALL, "data.bin")) as resp:
                    await resp.read()
            return [r.fault for r in sim.requests]

    first, again, other = await run(7), await run(7), await run(8)
    assert first == again
    assert first != other
    assert 0 < sum(f is not None for f in first) < 20


# -- request log ----------------------------------------------------------------------------


async def test_request_log_records_range_if_range_auth_and_bytes(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """The log holds Range, If-Range, auth booleans, status and body bytes; never the token."""
    etag = f'"{git_sha1(DATA)}"'
    headers = {"Range": "bytes=10-", "If-Range": etag, "Authorization": f"Bearer {TOKEN}"}
    async with session.get(sim.url(SMALL, "data.bin"), headers=headers) as resp:
        await resp.read()
    async with session.get(sim.url(SMALL, "data.bin"), headers={"Authorization": "Bearer x"}):
        pass
    first, second = sim.requests_for("data.bin")
    assert (first.range, first.if_range) == ("bytes=10-", etag)
    assert (first.authorized, first.token_valid) == (True, True)
    assert (first.status, first.bytes_sent, first.fault) == (206, len(DATA) - 10, None)
    assert (first.host, first.port, first.method) == ("127.0.0.1", sim.port, "GET")
    assert (second.authorized, second.token_valid, second.range) == (True, False, None)
    assert TOKEN not in repr(sim.requests)
    sim.clear()
    assert sim.requests == []


# -- modes and relative redirects ----------------------------------------------------------


async def test_mirror_mode_serves_lfs_directly_with_sha256_etag(
    session: aiohttp.ClientSession,
) -> None:
    """mode="mirror": LFS files are 200 on the endpoint itself, ETag sha256, no X-Linked-*."""
    async with HubSimulator(mode="mirror") as sim:
        sim.add_repo(SMALL, {"data.bin": DATA}, lfs=["data.bin"])
        async with session.get(sim.url(SMALL, "data.bin"), allow_redirects=False) as resp:
            assert resp.status == 200
            assert resp.headers["ETag"] == f'"{sha256(DATA)}"'
            assert "X-Linked-Etag" not in resp.headers
            assert await resp.read() == DATA


async def test_opaque_mode_etag_is_no_content_hash(session: aiohttp.ClientSession) -> None:
    """mode="opaque": every file is served directly with an ETag that is neither sha1 nor sha256."""
    async with HubSimulator(mode="opaque") as sim:
        sim.add_repo(SMALL, {"data.bin": DATA, "b.txt": b"b"}, lfs=["data.bin"])
        etags = set()
        for path, data in (("data.bin", DATA), ("b.txt", b"b")):
            async with session.get(sim.url(SMALL, path), allow_redirects=False) as resp:
                assert resp.status == 200 and await resp.read() == data
                etag = resp.headers["ETag"]
            assert etag.startswith('W/"opaque-')
            assert git_sha1(data) not in etag and sha256(data) not in etag
            etags.add(etag)
        assert len(etags) == 2


async def test_relative_redirect_goes_through_resolve_cache_with_token(
    session: aiohttp.ClientSession,
) -> None:
    """relative_redirect: 307 to /api/resolve-cache/..., which checks the token and serves."""
    async with HubSimulator(relative_redirect=True) as sim:
        sim.add_repo("org/p", {"a.txt": b"secret", "big.bin": DATA}, lfs=["big.bin"], private=True)
        sim.add_token(TOKEN)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with session.head(
            sim.url("org/p", "a.txt"), headers=auth, allow_redirects=False
        ) as resp:
            assert resp.status == 307
            location = resp.headers["Location"]
            assert location == f"/api/resolve-cache/models/org/p/{sim.commit_for('org/p')}/a.txt"
        async with session.get(sim.endpoint + location) as resp:
            assert resp.status == 401
        async with session.get(sim.endpoint + location, headers=auth) as resp:
            assert await resp.read() == b"secret"
        async with session.head(
            sim.url("org/p", "big.bin"), headers=auth, allow_redirects=False
        ) as resp:
            assert resp.status == 307 and resp.headers["X-Linked-Size"] == str(len(DATA))
            cached = sim.endpoint + resp.headers["Location"]
        async with session.get(cached, headers=auth, allow_redirects=False) as resp:
            assert resp.status == 302
            assert urlsplit(resp.headers["Location"]).hostname == sim.cdn_host


# -- /api/models ----------------------------------------------------------------------------


async def test_model_info_and_tree_endpoints(
    sim: HubSimulator, session: aiohttp.ClientSession
) -> None:
    """/api/models/{id}[/revision/{rev}] and /tree list files as huggingface_hub parses them."""
    async with session.get(f"{sim.endpoint}/api/models/{MINILM}/revision/main?blobs=true") as resp:
        info = await resp.json()
    assert info["id"] == MINILM and info["sha"] == sim.commit_for(MINILM)
    assert info["private"] is False and info["gated"] is False
    siblings = {s["rfilename"]: s for s in info["siblings"]}
    assert set(siblings) == {p.name for p in FIXTURE_DIR.iterdir()}
    assert siblings["tokenizer.json"]["lfs"]["sha256"] == sha256(fixture_bytes("tokenizer.json"))
    async with session.get(f"{sim.endpoint}/api/models/{SMALL}/tree/main?recursive=true") as resp:
        tree = await resp.json()
    assert {(e["type"], e["path"]) for e in tree} == {
        ("file", "data.bin"),
        ("directory", "dir"),
        ("file", "dir/nested.txt"),
    }
    async with session.get(f"{sim.endpoint}/api/models/org/private") as resp:
        assert resp.status == 401 and resp.headers["X-Error-Code"] == "RepoNotFound"


# -- huggingface_hub against the simulator --------------------------------------------------


def test_hf_hub_download_fetches_regular_and_lfs_files(
    threaded_sim: HubSimulator, tmp_path: Path
) -> None:
    """huggingface_hub.hf_hub_download(endpoint=sim.endpoint) gets exact bytes, LFS via the CDN."""
    from huggingface_hub import hf_hub_download

    for name in ("tokenizer_config.json", "tokenizer.json", "vocab.txt"):
        local = hf_hub_download(
            MINILM,
            name,
            cache_dir=tmp_path,
            endpoint=threaded_sim.endpoint,
            token=False,
            etag_timeout=5,
        )
        assert Path(local).read_bytes() == fixture_bytes(name)
    (cdn,) = threaded_sim.file_gets("tokenizer.json")
    assert cdn.listener == "cdn" and cdn.authorized is False
    assert Path(local).parent.name == threaded_sim.commit_for(MINILM)  # from X-Repo-Commit


def test_hf_snapshot_download_with_patched_endpoint(
    threaded_sim: HubSimulator, tmp_path: Path
) -> None:
    """patched_hf_endpoint makes snapshot_download (model info, tree, files) use the sim."""
    from huggingface_hub import snapshot_download

    with patched_hf_endpoint(threaded_sim.endpoint):
        folder = Path(snapshot_download(SMALL, cache_dir=tmp_path, token=False, etag_timeout=5))
    assert (folder / "data.bin").read_bytes() == DATA
    assert (folder / "dir" / "nested.txt").read_bytes() == b"nested"
    assert threaded_sim.requests_for(f"/api/models/{SMALL}")


def test_hf_hub_download_follows_relative_redirect_with_token(tmp_path: Path) -> None:
    """huggingface_hub follows the relative 307 of a private repo, keeping its token."""
    from huggingface_hub import hf_hub_download

    with HubSimulator(relative_redirect=True).run_in_thread() as sim:
        sim.add_repo("org/p", {"a.txt": b"secret", "big.bin": DATA}, lfs=["big.bin"], private=True)
        sim.add_token(TOKEN)
        for name, data in (("a.txt", b"secret"), ("big.bin", DATA)):
            local = hf_hub_download(
                "org/p", name, cache_dir=tmp_path, endpoint=sim.endpoint, token=TOKEN
            )
            assert Path(local).read_bytes() == data
        cached = [r for r in sim.requests_for("/api/resolve-cache/") if r.method == "HEAD"]
        assert cached and all(r.token_valid for r in cached)
        assert not any(r.authorized for r in sim.requests if r.listener == "cdn")


@pytest.mark.parametrize(
    ("repo_id", "filename", "revision", "error"),
    [
        ("org/missing", "a.txt", "main", "RepositoryNotFoundError"),
        ("org/gated", "a.txt", "main", "GatedRepoError"),
        (SMALL, "data.bin", "nope", "RevisionNotFoundError"),
        (SMALL, "nope.bin", "main", "RemoteEntryNotFoundError"),
    ],
)
def test_hf_hub_download_maps_error_codes(
    threaded_sim: HubSimulator,
    tmp_path: Path,
    repo_id: str,
    filename: str,
    revision: str,
    error: str,
) -> None:
    """huggingface_hub turns the simulator's X-Error-Code into its matching exception."""
    from huggingface_hub import errors, hf_hub_download

    with pytest.raises(getattr(errors, error)):
        hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=tmp_path,
            endpoint=threaded_sim.endpoint,
            token=False,
            etag_timeout=5,
        )


def test_hf_hub_download_resumes_with_range_after_truncation(
    threaded_sim: HubSimulator, tmp_path: Path
) -> None:
    """After a CDN Truncate, huggingface_hub resumes with Range bytes=N- and gets the file."""
    # huggingface_hub keeps only whole DOWNLOAD_CHUNK_SIZE (10 MiB) reads when a body
    # breaks, so the file spans two chunks and the cut comes after the first one.
    from huggingface_hub import constants, hf_hub_download

    chunk = constants.DOWNLOAD_CHUNK_SIZE
    big = bytes(range(256)) * ((chunk + (2 << 20)) // 256)
    threaded_sim.add_repo("org/big", {"model.bin": big}, lfs=["model.bin"])
    threaded_sim.inject(Truncate(chunk + 5), path="model.bin")
    local = hf_hub_download(
        "org/big", "model.bin", cache_dir=tmp_path, endpoint=threaded_sim.endpoint, token=False
    )
    assert Path(local).read_bytes() == big
    first, second = threaded_sim.file_gets("model.bin")
    assert (first.fault, first.bytes_sent, first.listener) == (
        f"Truncate(n_bytes={chunk + 5})",
        chunk + 5,
        "cdn",
    )
    assert (second.range, second.status, second.listener) == (f"bytes={chunk}-", 206, "cdn")
    assert second.bytes_sent == len(big) - chunk


# -- running it -----------------------------------------------------------------------------


def test_threaded_simulator_serves_sync_clients() -> None:
    """ThreadedHubSimulator serves from its own loop; state set from this thread is visible."""
    import urllib.request

    with ThreadedHubSimulator() as sim:
        sim.add_repo(SMALL, {"data.bin": DATA})
        with urllib.request.urlopen(sim.url(SMALL, "data.bin"), timeout=5) as resp:
            assert resp.read() == DATA
        assert sim.file_gets("data.bin")[0].bytes_sent == len(DATA)
    with pytest.raises(OSError):
        urllib.request.urlopen(sim.url(SMALL, "data.bin"), timeout=2)


def test_hf_env_points_a_new_process_at_the_simulator(threaded_sim: HubSimulator) -> None:
    """hf_env(sim) alone makes a fresh interpreter's hf_hub_download use the simulator."""
    code = (
        "import sys, tempfile, huggingface_hub as h;"
        "d = tempfile.mkdtemp();"
        f"p = h.hf_hub_download({SMALL!r}, 'dir/nested.txt', cache_dir=d);"
        "sys.stdout.write(open(p).read())"
    )
    env = {**os.environ, **hf_env(threaded_sim)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "nested"
    assert threaded_sim.requests_for("dir/nested.txt")
    assert not any(r.authorized for r in threaded_sim.requests)


def test_cli_prints_endpoint_and_serves_until_sigterm(tmp_path: Path) -> None:
    """python -m ...hub_simulator --repo ID=DIR prints the endpoint first and stops on SIGTERM."""
    import urllib.request

    proc = subprocess.Popen(
        [
            sys.executable,
            "-W",
            "error",
            "-m",
            "tokenizer_acquisition.testing.hub_simulator",
            "--repo",
            f"{MINILM}={FIXTURE_DIR}",
            "--lfs",
            "tokenizer.json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        endpoint = proc.stdout.readline().strip()
        assert endpoint.startswith("http://127.0.0.1:")
        url = f"{endpoint}/{MINILM}/resolve/main/tokenizer.json"
        with urllib.request.urlopen(url, timeout=5) as resp:  # follows the CDN redirect
            assert resp.read() == fixture_bytes("tokenizer.json")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
        assert proc.returncode == 0, stderr
        assert "Warning" not in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)
