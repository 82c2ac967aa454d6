"""A hostile server: random answers raise only our errors; oversized bodies are cut off."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from yarl import URL

from reliability.conftest import Results
from reliability.harness import ScriptedServer
from support.network import blob, network, partial_files, published
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.download_policy import Backoff
from tokenizer_acquisition.domain.errors import AcquisitionError, IntegrityError
from tokenizer_acquisition.domain.options import NetworkOptions
from tokenizer_acquisition.strategies import NetworkAcquisition
from tokenizer_acquisition.testing import Endless, ExtraBytes, HubSimulator, WrongLength

COMMAND = "pytest tests/reliability/test_hostile_server.py"
FILE = "tokenizer.json"
RESOLVE = f"/org/name/resolve/main/{FILE}"
#: Hints above this end the retries at once, so a random Retry-After never sleeps.
NO_WAIT = Backoff(base=0.001, cap=0.002, max_server_delay=0.01)

HEADER_NAMES = ["Content-Length", "Content-Range", "ETag", "X-Linked-Etag", "X-Linked-Size",
                "X-Repo-Commit", "Location", "Retry-After", "RateLimit", "X-Error-Code",
                "X-Error-Message", "X-Request-Id", "Content-Encoding", "Transfer-Encoding",
                "Content-Type", "Connection"]
digits = st.text("0123456789", min_size=1, max_size=5000)
header_values = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), max_size=40),
    digits, digits.map(lambda d: f"bytes 0-{d}/{d}"), digits.map(lambda d: f'"a";r=0;t={d}'),
    st.sampled_from(["²", "٣", "-1", "0", "bytes */0", "bytes 5-1/3", "gzip", "chunked",
                     "W/\"x\"", '"' + "a" * 64 + '"', "0" * 40, "RepoNotFound", "GatedRepo",
                     "EntryNotFound", "RevisionNotFound", "Mon, 01 Jan 99999 00:00:00 GMT",
                     "inf", "nan", "1e999", "keep-alive", "close"]))


def _locations(port: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["/", RESOLVE, "?x=1", "", "#f", f"http://127.0.0.1:{port}{RESOLVE}",
                         "http://127.0.0.1:1/refused", "ftp://127.0.0.1/x", "http://[::1",
                         "http://127.0.0.1:99999/", "mailto:x", "data:,hello"]),
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                              exclude_characters="/\\:@"), max_size=20))


@st.composite
def answers(draw: st.DrawFn, port: int) -> bytes:
    status = draw(st.one_of(st.sampled_from([200, 206, 301, 302, 307, 308, 401, 403, 404, 416,
                                             429, 500, 503]),
                            st.integers(100, 999)))
    headers: list[tuple[str, str]] = []
    for name in draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=6)):
        value = draw(_locations(port) if name == "Location" else header_values)
        headers.append((name, value))
    body = draw(st.binary(max_size=2048))
    framing = draw(st.sampled_from(["length", "none", "chunked", "bad-chunked", "as-is"]))
    names = {n.lower() for n, _ in headers}
    if framing == "length" and "content-length" not in names:
        headers.append(("Content-Length", str(len(body))))
    elif framing in ("chunked", "bad-chunked") and "transfer-encoding" not in names:
        headers.append(("Transfer-Encoding", "chunked"))
        if framing == "chunked":
            body = (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n") if body \
                else b"0\r\n\r\n"
        else:
            body = b"zz\r\n" + body
    head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    return head.encode("latin-1", "replace") + b"Connection: close\r\n\r\n" + body


def _safe(answer: bytes, endpoint: str) -> bool:
    """Redirects may only lead back to loopback: the test never leaves the machine."""
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() != "location":
            continue
        try:
            target = URL(endpoint + RESOLVE).join(URL(value.strip()))
        except (ValueError, TypeError):
            continue
        if target.host not in (None, "127.0.0.1"):
            return False
    return True


async def _fetch(endpoint: str, cache: Path) -> None:
    options = NetworkOptions(endpoint=endpoint, trust_env=False, max_retries=1,
                             connect_timeout=1.0, read_timeout=1.0, max_file_bytes=1_000_000)
    strategy = NetworkAcquisition(cache, options=options, backoff=NO_WAIT)
    try:
        await strategy.acquire(TokenizerDownloadInfo("org/name", "k", (FILE,)))
    finally:
        await strategy.aclose()


@pytest.fixture(scope="module")
def server() -> ScriptedServer:
    with ScriptedServer() as scripted:
        yield scripted


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_answers_raise_only_acquisition_errors(
        server: ScriptedServer, data: st.DataObject, results: Results) -> None:
    """Random status, headers, framing and body: success or an AcquisitionError subclass."""
    answer = data.draw(answers(server.port))
    assume(_safe(answer, server.endpoint))
    server.answer = answer
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        try:
            asyncio.run(_fetch(server.endpoint, cache))
        except AcquisitionError:
            ok = not published(cache, "k")
        except BaseException:
            ok = False
            raise
        finally:
            results.add("random server answers (property)", runs=1, passed=int(ok),
                        command=COMMAND)
        assert ok, "a failed download published a file"


# -- regressions the fuzzing found (each failed before its fix) ---------------------------------

CUT_SHORT = (b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nETag: "abc"\r\n'
             b"Connection: close\r\n\r\n" + b"x" * 50)


@pytest.mark.parametrize("answer", [
    # Always 200 from byte 0 (Range ignored), always cut at byte 50: once retried forever,
    # because writing any byte counted as progress (aiohttp_remote._Transfer.progressed).
    CUT_SHORT,
    # Numbers int() cannot take: a 5,000-digit Content-Range total and RateLimit reset
    # escaped as ValueError; "²" passes str.isdigit() (domain/download_policy, hub_protocol).
    b"HTTP/1.1 206 P\r\nContent-Range: bytes 0-1/" + b"9" * 5000 + b"\r\n"
    b"Content-Length: 2\r\nConnection: close\r\n\r\nab",
    b'HTTP/1.1 429 R\r\nRateLimit: "api";r=' + b"0" * 5000 + b";t=1\r\n"
    b"Content-Length: 0\r\nConnection: close\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX-Linked-Size: \u00b2\r\nContent-Length: 2\r\nConnection: close"
    "\r\n\r\nab".encode("latin-1"),
], ids=["cut-short-forever", "content-range-5000-digits", "ratelimit-5000-digits",
        "superscript-size"])
def test_hostile_answers_end_in_a_typed_error_quickly(
        server: ScriptedServer, answer: bytes, tmp_path: Path, results: Results) -> None:
    """Each answer ends in an AcquisitionError (or a verified file) within seconds."""
    server.answer = answer
    server.requests.clear()

    async def bounded() -> None:
        async with asyncio.timeout(10):
            await _fetch(server.endpoint, tmp_path)

    error: BaseException | None = None
    try:
        asyncio.run(bounded())
    except BaseException as exc:  # judged below
        error = exc
    ok = (error is None or isinstance(error, AcquisitionError)) and len(server.requests) < 20
    results.add("random server answers (property)", runs=1, passed=int(ok), command=COMMAND)
    assert ok, (error, len(server.requests))


# -- bodies longer than announced, or without end ----------------------------------------------

@pytest.mark.parametrize("fault, lfs", [
    (ExtraBytes(3_000_000), False),  # chunked, nothing announced: real bytes, then junk
    (Endless(cap_bytes=50_000_000), False),  # chunked, nothing announced, never ends
])
async def test_unannounced_bodies_stop_at_max_file_bytes(
        tmp_path: Path, fault: object, lfs: bool, results: Results) -> None:
    """A chunked body past max_file_bytes: IntegrityError(max_file_bytes), nothing published."""
    limit = 2_000_000
    async with HubSimulator() as sim:
        sim.add_repo("org/big", {FILE: blob(1_000_000, seed=11)}, lfs=[FILE] if lfs else [])
        sim.inject(fault, path=FILE, times=10)  # type: ignore[arg-type]
        strategy = network(sim, tmp_path, max_file_bytes=limit, max_retries=1)
        error: BaseException | None = None
        try:
            await strategy.acquire(TokenizerDownloadInfo("org/big", "big", (FILE,)))
        except BaseException as exc:  # judged below
            error = exc
        finally:
            await strategy.aclose()
        sent = sum(r.bytes_sent for r in sim.requests)
    leftovers = [p.stat().st_size for p in partial_files(tmp_path, "big")]
    ok = (isinstance(error, IntegrityError) and error.check == "max_file_bytes"
          and not published(tmp_path, "big") and all(size <= limit for size in leftovers)
          and sent < limit + 8 * 1024 * 1024)  # cut near the limit, not at the 50 MB cap
    results.add("more bytes than announced / endless body", runs=1, passed=int(ok),
                command=COMMAND)
    assert ok, (error, leftovers, sent)


@pytest.mark.parametrize("fault", [ExtraBytes(10_000), ExtraBytes(3_000_000),
                                   WrongLength(+500_000), Endless(cap_bytes=50_000_000)])
async def test_bodies_longer_than_announced_never_publish_wrong_bytes(
        tmp_path: Path, fault: object, results: Results) -> None:
    """LFS with X-Linked-Size announced: a verified file or a typed error, never extra bytes."""
    data = blob(1_000_000, seed=12)
    async with HubSimulator() as sim:
        sim.add_repo("org/big", {FILE: data}, lfs=[FILE])
        sim.inject(fault, path=FILE, times=10)  # type: ignore[arg-type]
        strategy = network(sim, tmp_path, max_retries=1)
        error: BaseException | None = None
        try:
            await strategy.acquire(TokenizerDownloadInfo("org/big", "big", (FILE,)))
        except BaseException as exc:  # judged below
            error = exc
        finally:
            await strategy.aclose()
    files = published(tmp_path, "big")
    wrong = 0 if not files else sum(
        1 for b, d in zip((tmp_path / "big" / FILE).read_bytes(), data, strict=False) if b != d)
    ok = (isinstance(error, AcquisitionError) and not files) or (
        error is None and (tmp_path / "big" / FILE).read_bytes() == data)
    results.add("more bytes than announced / endless body", runs=1, passed=int(ok),
                bytes_lost=wrong, command=COMMAND)
    assert ok, (error, files)


@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "9" * 5000, "-1", "1e3", " 12 x"])
def test_header_numbers_are_plain_ascii_digits(value: str, results: Results) -> None:
    """X-Linked-Size/Content-Length/Content-Range numbers other than 0-9 are unknown, not errors."""
    from tokenizer_acquisition.domain.download_policy import parse_content_range
    from tokenizer_acquisition.domain.hub_protocol import RemoteFacts

    facts = RemoteFacts.from_headers({"X-Linked-Size": value, "Content-Length": value})
    ok = facts.linked_size is None and facts.content_length is None
    ok = ok and parse_content_range(f"bytes 0-1/{value}") is None
    results.add("random server answers (property)", runs=1, passed=int(ok), command=COMMAND)
    assert ok, (value, facts)
