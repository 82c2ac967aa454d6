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
import functools
import ipaddress
import json
import logging
import os
import random
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from .._version import __version__
from ..domain.discovery import MAX_ENTRIES, RepoEntry, RepoListing
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
from ..domain.errors import (
    AcquisitionError,
    ListingRefused,
    ListingUnavailable,
    NetworkError,
)
from ..domain.hub_listing import (
    MAX_LISTING_BYTES,
    MAX_PAGES,
    next_page,
    parse_model_info,
    parse_tree_page,
    revision_url,
    tree_url,
)
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
from .logging_observer import log_event
from .partial_file import BackgroundWriter, PartialChanged, Sink, Validator

#: Largest read from aiohttp's buffer (it also sets how much aiohttp buffers: 2x this).
#: Each read goes to the file's writer thread as it is (no joining, no batching), so a
#: slow stream reaches the disk as it arrives and a killed process leaves a partial.
CHUNK_BYTES = 256 << 10
#: Bodies larger than this are hashed in a thread of their own beside the writer's (both
#: run at once on two cores); smaller ones are hashed by the writer: one thread fewer.
HASH_APART_BYTES = 4 << 20
MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Bytes per second a listing answer must average once it started (see ``_get_json_once``).
MIN_LISTING_RATE = 64 << 10
_LOGGER = "tokenizer_acquisition.network"


def _log() -> logging.Logger:
    # Standard logging under the package's NullHandler: silent until the app configures it.
    return logging.getLogger(_LOGGER)


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


def ssl_context(ca_bundle: Path | None) -> ssl.SSLContext | bool:
    """aiohttp's verified default, or one that also trusts ``ca_bundle`` (blocking: loading
    CA files takes tens of milliseconds, so callers on a loop run it in a thread)."""
    if ca_bundle is None:
        return True
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=str(ca_bundle))
    return context


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
    ) -> None:
        self._options = options
        self._backoff = backoff or Backoff()
        self._rand = rand
        self._sleep = sleep
        self._chunk = chunk_bytes
        self._endpoint = URL(options.endpoint)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        agent = f"tokenizer-acquisition/{__version__}"
        self._user_agent = f"{agent} {options.user_agent}" if options.user_agent else agent
        if self._endpoint.scheme == "http" and not is_loopback(self._endpoint.host):
            log_event(_log(), logging.WARNING, "tokenizer.endpoint.insecure",
                      endpoint=options.endpoint,
                      reason="plain http: files and the token travel unencrypted")

    # -- session ---------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext | bool:
        return ssl_context(self._options.ca_bundle)

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
                log_event(_log(), logging.INFO, "tokenizer.download.retry", file=remote.file,
                          url=remote.url, attempt=state.attempts, delay_s=delay,
                          reason=failure.error.message)
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
        if append and offset:
            progress.resumed(offset)
        fresh = None if append else _validator(remote, facts, response, total)
        # Opened in the file's writer thread, which then hashes and writes every read.
        writer = BackgroundWriter(functools.partial(
            Sink, remote.staged, append=append, total=total,
            git_sha1=needs_git_sha1(facts.identity), validator=fresh,
            prefix=offset if append else None),
            separate_hasher=total is None or total - (offset if append else 0) > HASH_APART_BYTES)
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
        """Hand each read of the body to the file's writer as it arrives; ``base`` bytes are
        already in the partial. Returns the offset the body ended at.

        The loop only receives: the writer's thread hashes and writes (see
        ``BackgroundWriter``), and ``submit`` waits only when it is too far behind.
        """
        written = 0
        read = response.content.read
        submit = writer.submit
        chunk_bytes = self._chunk
        try:
            while chunk := await read(chunk_bytes):
                size = base + written + len(chunk)
                if (limit := too_large(remote.file, size, remote.max_bytes)):
                    raise limit
                written += len(chunk)
                transfer.received += len(chunk)
                transfer.reported += len(chunk)
                progress.advanced(len(chunk))
                await submit((chunk,))
                if total is not None and size > total:
                    break  # longer than announced: verification reports it
        except AcquisitionError:
            raise
        except Exception as exc:
            raise self._transport_failure(
                remote, exc, progressed=transfer.progressed(base + written)) from None
        complete = total is None or base + written >= total
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

    # -- listing (issue 11) ----------------------------------------------------------------

    async def list_files(self, repo: str, revision: str) -> RepoListing:
        """``/revision/{rev}?blobs=true`` (one request); the paginated tree at the listed
        commit only when that answer has no sizes. Same token, redirect and retry rules
        as downloads; ``ListingRefused`` for an answer that is not the Hub's shape."""
        endpoint = self._options.endpoint
        doc, _ = await self._get_json(revision_url(endpoint, repo, revision), repo, revision)
        try:
            listing, complete = parse_model_info(doc, repo=repo, revision=revision)
        except ValueError as exc:
            raise ListingRefused(repo, str(exc)) from None
        if complete:
            return listing
        at = listing.commit or revision
        entries: list[RepoEntry] = []
        url: str | None = tree_url(endpoint, repo, at)
        for _ in range(MAX_PAGES):
            if url is None:
                return replace(listing, entries=tuple(entries))
            page, link = await self._get_json(url, repo, revision)
            try:
                entries.extend(parse_tree_page(page))
            except ValueError as exc:
                raise ListingRefused(repo, str(exc)) from None
            if len(entries) > MAX_ENTRIES:
                raise ListingRefused(repo, f"more than {MAX_ENTRIES} entries")
            target = next_page(link)
            url = str(URL(url).join(URL(target))) if target else None
        raise ListingRefused(repo, f"more than {MAX_PAGES} pages")

    async def _get_json(self, url: str, repo: str, revision: str) -> tuple[Any, str | None]:
        """One API GET with retries; the parsed body and the ``Link`` header."""
        state = RetryState(self._options.max_retries, self._backoff, self._rand)
        while True:
            try:
                return await self._get_json_once(url, repo, revision)
            except _Retry as failure:
                delay = state.next_delay(progressed=False, hint=failure.hint)
                if delay is None:
                    raise failure.error from None
                await self._sleep(delay)

    async def _get_json_once(self, url: str, repo: str, revision: str
                             ) -> tuple[Any, str | None]:
        target = URL(url, encoded=True)
        if target.scheme not in ("http", "https"):
            raise ListingRefused(repo, f"a page link to a {target.scheme!r} URL")
        token = self._options.token
        secrets = (token.reveal(),) if token else ()
        try:
            session = await self.session()
            for _ in range(MAX_REDIRECTS + 1):
                headers = self.headers_for(target, {"Accept": "application/json"})
                async with session.get(target, headers=headers, allow_redirects=False) as resp:
                    location = resp.headers.get("Location")
                    if resp.status in REDIRECT_STATUSES and location:
                        target = target.join(URL(location))
                        continue
                    if resp.status != 200:
                        raise self._listing_failure(resp, str(target), repo, revision, secrets)
                    # A body dripped under read_timeout must still end: the listing must
                    # arrive at MIN_LISTING_RATE on average (after one read_timeout).
                    length = resp.content_length
                    budget = self._options.read_timeout + min(
                        MAX_LISTING_BYTES if length is None else length,
                        MAX_LISTING_BYTES) / MIN_LISTING_RATE
                    async with asyncio.timeout(budget):
                        body = await _read_bounded(resp, MAX_LISTING_BYTES + 1)
                    link = resp.headers.get("Link")
                break
            else:
                raise NetworkError(f"more than {MAX_REDIRECTS} redirects listing {repo!r}",
                                   url=_public(url))
        except (AcquisitionError, _Retry):
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            for secret in secrets:
                reason = reason.replace(secret, "***")
            error = NetworkError(f"could not list {repo!r} ({reason})", url=_public(url))
            if isinstance(exc, aiohttp.ClientSSLError | aiohttp.InvalidURL):
                raise error from None
            raise _Retry(error, progressed=False) from None
        if len(body) > MAX_LISTING_BYTES:
            raise ListingRefused(repo, f"an answer larger than {MAX_LISTING_BYTES} bytes")
        try:
            return json.loads(body), link
        except (ValueError, RecursionError):
            raise ListingRefused(repo, "an answer that is not JSON") from None

    def _listing_failure(self, response: aiohttp.ClientResponse, url: str, repo: str,
                         revision: str, secrets: tuple[str, ...]) -> Exception:
        status = response.status
        hint = server_delay(status, response.headers)
        code = header(response.headers, "X-Error-Code")
        if status in (404, 405, 501) and code not in ("RepoNotFound", "RevisionNotFound",
                                                      "GatedRepo"):
            return ListingUnavailable(repo, revision, url=_public(url), status=status,
                                      reason="the endpoint does not serve the Hub's "
                                             "/api/models listing")
        error = error_for(status, response.headers, url=_public(url), file="(listing)",
                          repo=repo, revision=revision, retry_after=hint, secrets=secrets)
        if is_retryable_status(status):
            return _Retry(error, progressed=False, hint=hint)
        return error


async def _read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, or its first ``limit`` bytes (the caller refuses that as too large)."""
    parts: list[bytes] = []
    size = 0
    while size < limit and (chunk := await response.content.read(limit - size)):
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def _public(url: str) -> str:
    """A URL as errors may show it (no query: page cursors are noise)."""
    return url.split("?", 1)[0]


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
