"""``RemoteFiles`` over aiohttp: redirects, ranges, retries and the token, on one session.

Only this module imports aiohttp, and only the composition layer imports this module
when a network strategy is built, so cache-only processes never load it.

Wire rules (see issue 3 and ``domain/hub_protocol.py``):

- redirects are followed by hand so ``Authorization`` goes only to the endpoint's
  origin: kept on relative (same-origin) redirects, dropped on the hop to the CDN;
- ``Accept-Encoding: identity`` so byte offsets are file offsets;
- a partial with a validator is continued with ``Range`` + ``If-Range``; the domain's
  ``resume_action`` decides between append, truncate and restart (also when the
  ``Content-Range`` total is not the stored one);
- answers nothing could verify are refused before a byte is kept (``verification.refusal``:
  a ``Content-Encoding``, no validator without a pin), and a file only its size verifies
  must announce that size and meet it (``length_failure``: retried);
- the download owns its partial exclusively for the whole call (``partial_file``);
- retryable failures back off per ``RetryState``; bytes written count as progress.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from yarl import URL

from .._version import __version__
from ..domain.download_policy import (
    Backoff,
    ResumeAction,
    RetryState,
    announced_total,
    is_retryable_status,
    parse_content_range,
    range_header,
    resume_action,
    server_delay,
)
from ..domain.errors import AcquisitionError, NetworkError
from ..domain.hub_protocol import RemoteFacts, error_for, header
from ..domain.options import NetworkOptions
from ..domain.verification import (
    length_failure,
    needs_git_sha1,
    needs_length,
    refusal,
    too_large,
)
from ..ports.remote import Fetched, RemoteFile, RemoteFiles, TransferProgress
from . import partial_file
from .partial_file import BackgroundWriter, PartialChanged, Sink, Validator

#: Largest read from aiohttp's buffer (it also sets how much aiohttp buffers: 2x this).
CHUNK_BYTES = 1 << 20
#: Bytes handed to the writer at once (see ``BackgroundWriter`` for how many in flight).
BATCH_BYTES = 2 << 20
#: A slow stream still reaches the disk this often, so a killed process leaves a partial.
FLUSH_INTERVAL_S = 0.25
MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_LOGGER = "tokenizer_acquisition.network"


def _log() -> Any:
    # Looked up per event, never bound at import: the application configures structlog.
    return structlog.get_logger(_LOGGER)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _origin(url: URL) -> tuple[str, str, int | None]:
    return (url.scheme, (url.host or "").lower(), url.port)


class _Retry(Exception):
    """An attempt failed in a way worth repeating."""

    def __init__(self, error: AcquisitionError, *, progressed: bool,
                 hint: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.progressed = progressed
        self.hint = hint


class _Restart(Exception):
    """The partial is unusable (416, wrong range, changed file): discard it, ask again."""


@dataclass
class _Transfer:
    """One ``download`` call's running totals across attempts."""

    received: int = 0
    #: Bytes reported to ``progress.advanced`` since the transfer last (re)started at 0.
    reported: int = 0
    resumed: bool = False
    #: The furthest offset any attempt reached: only going beyond it counts as progress,
    #: so a server that restarts from zero and cuts off at the same place is given up on.
    reached: int = 0

    def progressed(self, end: int) -> bool:
        advanced = end > self.reached
        self.reached = max(self.reached, end)
        return advanced


class AiohttpRemoteFiles(RemoteFiles):
    """One pooled ``ClientSession`` per instance, created lazily in the running loop."""

    def __init__(
        self,
        options: NetworkOptions,
        *,
        backoff: Backoff | None = None,
        rand: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        chunk_bytes: int = CHUNK_BYTES,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self._options = options
        self._backoff = backoff or Backoff()
        self._rand = rand
        self._sleep = sleep
        self._chunk = chunk_bytes
        self._batch = max(batch_bytes, chunk_bytes)
        self._endpoint = URL(options.endpoint)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        agent = f"tokenizer-acquisition/{__version__}"
        self._user_agent = f"{agent} {options.user_agent}" if options.user_agent else agent
        if self._endpoint.scheme == "http" and not is_loopback(self._endpoint.host):
            _log().warning("tokenizer.endpoint.insecure", endpoint=options.endpoint,
                           reason="plain http: files and the token travel unencrypted")

    # -- session ---------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext | bool:
        """aiohttp's verified default, or one that also trusts ``ca_bundle``."""
        if self._options.ca_bundle is None:
            return True
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=str(self._options.ca_bundle))
        return context

    async def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # A session belongs to one loop; download_tokenizer_sync runs a fresh loop per call.
            # Loading CA files takes tens of milliseconds: not on the loop.
            context = True if self._options.ca_bundle is None \
                else await asyncio.to_thread(self._ssl_context)
            if self._session is None or self._session.closed or self._loop is not loop:
                timeout = aiohttp.ClientTimeout(
                    total=None, sock_connect=self._options.connect_timeout,
                    sock_read=self._options.read_timeout)
                self._session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(ssl=context), timeout=timeout,
                    trust_env=self._options.trust_env, auto_decompress=False)
                self._loop = loop
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def discard(self, staged: Path) -> None:
        partial_file.discard(staged)

    # -- headers and redirects -------------------------------------------------------------

    def headers_for(self, url: URL, extra: Mapping[str, str]) -> dict[str, str]:
        """Request headers for one hop; the token only to the endpoint's origin."""
        out = {"Accept-Encoding": "identity", "User-Agent": self._user_agent, **extra}
        token = self._options.token
        if token and _origin(url) == _origin(self._endpoint):
            out["Authorization"] = f"Bearer {token.reveal()}"
        return out

    async def _open(self, remote: RemoteFile, extra: Mapping[str, str]
                    ) -> tuple[aiohttp.ClientResponse, RemoteFacts]:
        """GET with redirects followed by hand; returns the first non-redirect answer."""
        url = URL(remote.url, encoded=False)
        facts = RemoteFacts()
        for _ in range(MAX_REDIRECTS + 1):
            session = await self.session()
            response = await session.get(
                url, headers=self.headers_for(url, extra), allow_redirects=False)
            facts = facts.merged(RemoteFacts.from_headers(response.headers))
            linked = facts.linked_size
            if linked is not None and (limit := too_large(remote.file, linked, remote.max_bytes)):
                response.release()  # refused before following the redirect to the bytes
                raise limit
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response, facts
            response.release()
            url = url.join(URL(location))
        raise NetworkError(f"more than {MAX_REDIRECTS} redirects for {remote.file!r}",
                           url=remote.url)

    # -- download --------------------------------------------------------------------------

    async def download(self, remote: RemoteFile, *, resume: bool = True,
                       progress: TransferProgress | None = None) -> Fetched:
        progress = progress or TransferProgress()
        # Owned for the call unless the caller's reservation (staging.claim) already is.
        mine = partial_file.reserve(remote.staged)
        try:
            if not resume:
                progress.restarted()  # the caller may have counted an earlier call's bytes
                await asyncio.to_thread(partial_file.reset, remote.staged)
            return await self._download(remote, progress)
        finally:
            if mine:
                await asyncio.shield(asyncio.to_thread(partial_file.release, remote.staged))

    async def _download(self, remote: RemoteFile, progress: TransferProgress) -> Fetched:
        state = RetryState(self._options.max_retries, self._backoff, self._rand)
        transfer = _Transfer()
        while True:
            try:
                return await self._attempt(remote, progress, transfer)
            except _Restart:
                await asyncio.to_thread(partial_file.reset, remote.staged)
                continue
            except _Retry as failure:
                delay = state.next_delay(progressed=failure.progressed, hint=failure.hint)
                _log().info("tokenizer.download.retry", file=remote.file, url=remote.url,
                            attempt=state.attempts, delay_s=delay, reason=failure.error.message)
                if delay is None:
                    # A 429 arrives here as RateLimited carrying the server's last hint.
                    raise failure.error from None
                await self._sleep(delay)

    async def _attempt(self, remote: RemoteFile, progress: TransferProgress,
                       transfer: _Transfer) -> Fetched:
        # A fresh download (one stat says so) needs no thread to learn there is nothing.
        offset, validator = (0, None) if not _exists(remote.staged) \
            else await asyncio.to_thread(partial_file.load, remote.staged)
        extra: dict[str, str] = {}
        if offset:
            extra["Range"] = range_header(offset)
            if validator is not None and validator.etag is not None:
                extra["If-Range"] = f'"{validator.etag}"'
        try:
            response, facts = await self._open(remote, extra)
        except AcquisitionError:
            raise
        except Exception as exc:
            raise self._transport_failure(remote, exc, progressed=False) from None
        try:
            return await self._receive(remote, progress, transfer, response, facts,
                                       offset, validator)
        finally:
            response.close()

    async def _receive(self, remote: RemoteFile, progress: TransferProgress,
                       transfer: _Transfer, response: aiohttp.ClientResponse,
                       facts: RemoteFacts, offset: int, validator: Validator | None) -> Fetched:
        status = response.status
        if status == 416 and offset:
            raise _Restart
        if status not in (200, 206):
            raise self._status_failure(remote, response)
        pinned = remote.sha256 is not None
        refused = refusal(remote.file, content_encoding=header(response.headers,
                                                                "Content-Encoding"),
                          identity=facts.identity, pinned=pinned,
                          content_type=header(response.headers, "Content-Type"))
        if refused is not None:
            await asyncio.to_thread(partial_file.reset, remote.staged)
            raise refused
        content_range = parse_content_range(header(response.headers, "Content-Range"))
        action = resume_action(
            status, offset=offset, content_range=content_range,
            stored_identity=validator.identity if validator else None,
            identity=facts.identity,
            stored_total=validator.total if validator else None)
        if action is ResumeAction.RESTART:
            if offset:
                raise _Restart
            error = NetworkError(f"206 without a usable Content-Range for {remote.file!r}",
                                 url=remote.url, status=status)
            raise _Retry(error, progressed=False)
        total = announced_total(status, facts.linked_size, facts.content_length,
                                content_range)
        if total is not None and (limit := too_large(remote.file, total, remote.max_bytes)):
            raise limit
        sized = needs_length(facts.identity, pinned=pinned)
        if sized and (unsized := length_failure(remote.file, total=total)) is not None:
            raise _Retry(unsized, progressed=False)  # close-delimited: cannot be checked
        append = action is ResumeAction.APPEND
        transfer.resumed = transfer.resumed or append
        if not append and transfer.reported:
            progress.restarted()  # e.g. a 200 to a ranged request: the count starts over
            transfer.reported = 0
        progress.started(total)
        fresh = None if append else _validator(remote, facts, response, total)
        opening = asyncio.ensure_future(asyncio.to_thread(
            Sink, remote.staged, append=append, total=total,
            git_sha1=needs_git_sha1(facts.identity), validator=fresh,
            prefix=offset if append else None))
        writer = BackgroundWriter(opening)
        try:
            end = await self._stream(remote, progress, transfer, response, writer,
                                     base=offset if append else 0, total=total)
            if sized and (empty := length_failure(remote.file, total=total,
                                                  received=end)) is not None:
                raise _Retry(empty, progressed=False)
            sink, sha256, git_sha1 = await writer.finish()
        except PartialChanged as changed:
            # Someone else wrote to our partial (a filesystem without working flock):
            # nothing of it can be trusted.
            await writer.abort()
            await asyncio.to_thread(partial_file.reset, remote.staged)
            raise _Retry(changed, progressed=False) from None
        except BaseException:
            await writer.abort()
            raise
        return Fetched(path=remote.staged, size=sink.size, sha256=sha256, git_sha1=git_sha1,
                       etag=facts.identity, announced_size=total, commit=facts.commit,
                       received=transfer.received, resumed=transfer.resumed)

    async def _stream(self, remote: RemoteFile, progress: TransferProgress,
                      transfer: _Transfer, response: aiohttp.ClientResponse,
                      writer: BackgroundWriter, *, base: int, total: int | None) -> int:
        """Copy the body to the partial in bounded batches; ``base`` bytes are already there.

        Returns the offset the body ended at.

        The chunks aiohttp hands over are passed on as they are (no joining): a batch is
        a list of them, hashed and written by the writer's threads.
        """
        batch: list[bytes] = []
        batched = 0
        written = 0
        last_flush = time.monotonic()
        read = response.content.read
        try:
            while chunk := await read(self._chunk):
                size = base + written + len(chunk)
                if (limit := too_large(remote.file, size, remote.max_bytes)):
                    raise limit
                batch.append(chunk)
                batched += len(chunk)
                written += len(chunk)
                transfer.received += len(chunk)
                transfer.reported += len(chunk)
                progress.advanced(len(chunk))
                if total is not None and size > total:
                    break  # longer than announced: verification reports it
                if batched >= self._batch or time.monotonic() - last_flush > FLUSH_INTERVAL_S:
                    await writer.submit(batch)
                    batch, batched = [], 0
                    last_flush = time.monotonic()
        except AcquisitionError:
            raise
        except Exception as exc:
            await writer.submit(batch)
            raise self._transport_failure(
                remote, exc, progressed=transfer.progressed(base + written)) from None
        complete = total is None or base + written >= total
        await writer.submit(batch, final=complete)
        if not complete:
            assert total is not None
            error = NetworkError(
                f"body of {remote.file!r} ended at {base + written} of {total} bytes",
                url=remote.url, status=response.status)
            raise _Retry(error, progressed=transfer.progressed(base + written))
        return base + written

    # -- failures --------------------------------------------------------------------------

    def _status_failure(self, remote: RemoteFile, response: aiohttp.ClientResponse
                        ) -> Exception:
        status = response.status
        hint = server_delay(status, response.headers)
        token = self._options.token
        error = error_for(status, response.headers, url=remote.url, file=remote.file,
                          repo=remote.repo, revision=remote.revision, retry_after=hint,
                          secrets=(token.reveal(),) if token else ())
        if is_retryable_status(status):
            return _Retry(error, progressed=False, hint=hint)
        return error

    def _transport_failure(self, remote: RemoteFile, exc: Exception, *,
                           progressed: bool) -> Exception:
        """Connection errors, timeouts and broken bodies retry; TLS and bad URLs do not."""
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        token = self._options.token
        if token:
            reason = reason.replace(token.reveal(), "***")
        if isinstance(exc, aiohttp.ClientSSLError):
            return NetworkError(
                f"TLS failure fetching {remote.file!r} ({reason})", url=remote.url,
                suggestions=("set network.ca_bundle to your organisation's CA file",
                             "check the endpoint's certificate and host name"))
        if isinstance(exc, aiohttp.InvalidURL):
            return NetworkError(f"invalid URL for {remote.file!r} ({reason})", url=remote.url)
        error = NetworkError(f"could not fetch {remote.file!r} ({reason})", url=remote.url)
        return _Retry(error, progressed=progressed)


def _validator(remote: RemoteFile, facts: RemoteFacts, response: aiohttp.ClientResponse,
               total: int | None) -> Validator | None:
    """Remember how to resume; a weak or missing ETag can still resume by identity check."""
    if facts.identity is None:
        return None
    raw = header(response.headers, "ETag")
    strong = raw is not None and not raw.strip().startswith(("W/", "w/"))
    return Validator(identity=facts.identity, etag=facts.etag if strong else None,
                     total=total, url=remote.url)


def _exists(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError:
        return False
    return True
