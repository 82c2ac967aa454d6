"""Serve file bytes as the Hub and its CDN do (Range, If-Range, 416), with faults on the wire.

Faults act on the real socket (RST, FIN, short or over-long bodies) because clients under
test must be exercised against what a network does, not against mocked exceptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import re
import socket
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from .faults import (
    CloseDelimited,
    ContentEncoding,
    Corrupt,
    EmptyBody,
    Endless,
    ExtraBytes,
    Fault,
    IgnoreRange,
    NoEtag,
    ResetAfter,
    SlowDrip,
    SpliceTotal,
    Truncate,
    WrongLength,
)
from .recording import Exchange

__all__ = ["ByteRange", "parse_range", "send_file_body", "strip_etag"]

_CHUNK = 64 * 1024
_FLUSH_TIMEOUT_S = 2.0
_FLUSH_POLL_S = 0.002
_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")
_FILLER = b"\xa5" * _CHUNK


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive


class Unsatisfiable:
    """The requested range starts at or past the end of the file."""


def parse_range(header: str | None, size: int) -> ByteRange | Unsatisfiable | None:
    """One ``bytes=`` range; None when absent, multi-range or malformed (RFC 9110: ignore)."""
    if header is None:
        return None
    match = _RANGE_RE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0:
            return Unsatisfiable()
        return ByteRange(max(0, size - suffix), size - 1) if size else Unsatisfiable()
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return Unsatisfiable()
    end = min(int(last), size - 1) if last else size - 1
    return ByteRange(start, end)


def strip_etag(value: str) -> str:
    """Compare ETags the lenient way clients do: without ``W/`` and quotes."""
    return value.strip().removeprefix("W/").strip('"')


async def send_file_body(
    request: web.Request,
    exchange: Exchange,
    *,
    data: bytes,
    etag: str,
    headers: Mapping[str, str],
    fault: Fault | None,
) -> web.StreamResponse:
    """Answer a GET or HEAD for ``data`` whose ETag header value is ``etag``."""
    if isinstance(fault, SpliceTotal) and request.headers.get("Range") is not None:
        data = data + _filler(fault.delta) if fault.delta > 0 else data[: len(data) + fault.delta]
    size = len(data)
    wanted = parse_range(request.headers.get("Range"), size)
    if_range = request.headers.get("If-Range")
    if wanted is not None and if_range is not None and strip_etag(if_range) != strip_etag(etag):
        wanted = None
    if isinstance(fault, (IgnoreRange, ContentEncoding, NoEtag, EmptyBody)):
        wanted = None
    out = {**headers, "ETag": etag, "Accept-Ranges": "bytes"}
    out.setdefault("Content-Type", "application/octet-stream")
    if isinstance(fault, ContentEncoding):
        data = _encoded(data, fault.encoding)
        out["Content-Encoding"] = fault.encoding
    elif isinstance(fault, NoEtag):
        del out["ETag"]
        if fault.body is not None:
            data = fault.body
            out["Content-Type"] = "text/html; charset=utf-8"
    elif isinstance(fault, EmptyBody):
        data = b""
    if isinstance(wanted, Unsatisfiable):
        exchange.status = 416
        return web.Response(status=416, headers={**out, "Content-Range": f"bytes */{size}"})

    start, end = (wanted.start, wanted.end) if wanted else (0, size - 1)
    body = data[start : end + 1]
    if wanted is not None:
        out["Content-Range"] = f"bytes {start}-{end}/{size}"
    if isinstance(fault, Corrupt) and body:
        body = _flip_byte(body, start, fault)

    status = 206 if wanted is not None else 200
    closing = isinstance(fault, CloseDelimited)
    response = (_CloseDelimitedResponse if closing else web.StreamResponse)(
        status=status, headers=out)
    exchange.status = status
    if closing:
        response.force_close()
    elif isinstance(fault, (ExtraBytes, Endless)):
        response.enable_chunked_encoding()
    elif isinstance(fault, WrongLength):
        response.content_length = max(0, len(body) + fault.delta)
        response.force_close()
    else:
        response.content_length = len(body)
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    with contextlib.suppress(ConnectionError):  # the client left; sent bytes are counted
        await _write_with_fault(request, response, exchange, body, fault)
    return response


class _CloseDelimitedResponse(web.StreamResponse):
    """Neither Content-Length nor chunking: aiohttp would chunk a body of unknown length
    on HTTP/1.1, and this flag (meant for WebSockets) is its only way not to."""

    _length_check = False


def _encoded(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data, mtime=0)
    if encoding == "deflate":
        return zlib.compress(data)
    return data


def _flip_byte(body: bytes, start: int, fault: Corrupt) -> bytes:
    at = fault.offset if fault.offset is not None else start + len(body) // 2
    index = at - start if start <= at < start + len(body) else 0
    corrupted = bytearray(body)
    corrupted[index] ^= 0xFF
    return bytes(corrupted)


async def _write_with_fault(
    request: web.Request,
    response: web.StreamResponse,
    exchange: Exchange,
    body: bytes,
    fault: Fault | None,
) -> None:
    if isinstance(fault, ResetAfter):
        await _write(request, response, exchange, body[: fault.n_bytes])
        await _flushed(request)
        _reset(request)
    elif isinstance(fault, Truncate):
        await _write(request, response, exchange, body[: fault.n_bytes])
        await _close(request)
    elif isinstance(fault, WrongLength):
        await _write(request, response, exchange, body[: max(0, len(body) + fault.delta)])
        await _close(request)
    elif isinstance(fault, CloseDelimited):
        cut = len(body) if fault.n_bytes is None else fault.n_bytes
        await _write(request, response, exchange, body[:cut])
        await _close(request)
    elif isinstance(fault, ExtraBytes):
        await _write(request, response, exchange, body + _filler(fault.n_bytes))
    elif isinstance(fault, Endless):
        await _write(request, response, exchange, body[: fault.cap_bytes])
        while exchange.bytes_sent < fault.cap_bytes:
            room = fault.cap_bytes - exchange.bytes_sent
            await _write(request, response, exchange, _FILLER[:room])
    elif isinstance(fault, SlowDrip):
        for offset in range(0, len(body), fault.chunk_size):
            await _write(request, response, exchange, body[offset : offset + fault.chunk_size])
            await asyncio.sleep(fault.delay_s)
    else:
        await _write(request, response, exchange, body)


def _filler(n: int) -> bytes:
    return (_FILLER * (n // _CHUNK + 1))[:n]


async def _write(
    request: web.Request, response: web.StreamResponse, exchange: Exchange, data: bytes
) -> None:
    """Write in chunks, counting each one before it can reach the client."""
    request.writer.send_headers()
    view = memoryview(data)
    for offset in range(0, len(view), _CHUNK):
        chunk = view[offset : offset + _CHUNK]
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        exchange.bytes_sent += len(chunk)
        await response.write(chunk)


async def _flushed(request: web.Request) -> None:
    """Wait until asyncio's buffer is handed to the kernel, so a cut comes after the bytes."""
    transport = request.transport
    for _ in range(int(_FLUSH_TIMEOUT_S / _FLUSH_POLL_S)):
        if transport is None or transport.is_closing() or not transport.get_write_buffer_size():
            return
        await asyncio.sleep(_FLUSH_POLL_S)


async def _close(request: web.Request) -> None:
    """End the connection with a FIN after the bytes already written."""
    await _flushed(request)
    if request.transport is not None:
        request.transport.close()


def _reset(request: web.Request) -> None:
    """End the connection with an RST: SO_LINGER 0 makes close() abortive."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
