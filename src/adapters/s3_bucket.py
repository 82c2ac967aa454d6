"""``ObjectStore`` over S3's REST API: botocore signs, our own aiohttp session sends.

Why not aiobotocore (issue 12): it pins aiohttp>=3.14 and botocore narrowly, so it
cannot be installed next to boto3>=1.44, which many inference images carry. botocore
alone has no aiohttp pin and gives us what must not be hand-written: the credential
chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``,
``AWS_PROFILE`` with the shared files, web identity as Kubernetes IRSA uses) and the
SigV4 signer. Requests go out on a session of this adapter's own, so the Hub's token
never reaches the bucket and no S3 signature ever reaches the Hub.

Wire rules:

- every request is signed with SigV4 and carries ``x-amz-content-sha256``: the real
  sha256 of the body (we always have it), never ``UNSIGNED-PAYLOAD``;
- the path is sent exactly as signed (S3 keys are not normalised: ``S3SigV4Auth``'s
  rule), percent-encoded once;
- connection failures and 5xx/429 are retried a few times with backoff, then are a
  ``NetworkError`` naming the endpoint setting; refused credentials are
  ``AuthenticationFailed`` naming where they came from, never their value;
- a write the identity may not make (403 ``AccessDenied``) is ``Put.DENIED``.

Only the composition layer imports this module (when an ``s3`` strategy is built), so
a process without the ``[s3]`` extra never loads botocore.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import ssl
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from yarl import URL

from .._version import __version__
from ..domain.bucket_layout import S3Options
from ..domain.errors import AcquisitionError, AuthenticationFailed, NetworkError
from ..domain.options import NetworkOptions
from ..ports.bucket import Access, ObjectStore, Put, StoredObject
from .aiohttp_remote import ssl_context
from .logging_observer import log_event

_LOGGER = "tokenizer_acquisition.s3"
#: S3 error codes that mean the credentials themselves were refused.
AUTH_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
                        "InvalidToken", "TokenRefreshRequired", "AuthorizationHeaderMalformed",
                        "InvalidSecurity", "MissingSecurityHeader"})
RETRIES = 3
#: A body must arrive at least this fast on average (after ``read_timeout``): a server
#: dripping one byte per ``read_timeout`` never ends a read otherwise.
MIN_BODY_RATE = 64 << 10
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_CODE = re.compile(rb"<Code>([A-Za-z0-9.]{1,64})</Code>")
_PROBE_ETAG = '"00000000000000000000000000000000"'
#: Where credentials came from (botocore's ``method``), as the setting to check.
_SOURCES = {
    "env": "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (environment)",
    "shared-credentials-file": "the profile's keys in the shared credentials file "
                               "(AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE)",
    "config-file": "the profile's keys in the AWS config file (AWS_PROFILE, AWS_CONFIG_FILE)",
    "assume-role-with-web-identity": "the web identity token (AWS_WEB_IDENTITY_TOKEN_FILE, "
                                     "AWS_ROLE_ARN)",
}


class _S3Signer(SigV4Auth):  # type: ignore[misc]
    """SigV4 as S3 wants it: the path signed as sent (no normalisation), and the payload
    hash taken from our ``X-Amz-Content-SHA256`` header instead of re-hashing the body."""

    def _normalize_url_path(self, path: str) -> str:
        return path


def _log_debug(event: str, **fields: Any) -> None:
    log_event(logging.getLogger(_LOGGER), logging.DEBUG, event, **fields)


class S3ObjectStore(ObjectStore):
    """One bucket and prefix; one pooled ``ClientSession`` per instance and loop."""

    def __init__(self, options: S3Options, network: NetworkOptions | None = None, *,
                 credentials: Any = None, retry_delay: float = 0.1) -> None:
        self._options = options
        self._network = network or NetworkOptions()
        self._given_credentials = credentials
        self._credentials: Any = None
        self._credential_source = "no credentials were found"
        self._resolved = False
        self._region = options.region
        self._retry_delay = retry_delay
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        endpoint = options.endpoint_url
        region = options.region or "us-east-1"
        self._endpoint = URL(endpoint or f"https://s3.{region}.amazonaws.com")
        style = options.addressing_style
        if style == "auto":
            style = "virtual" if endpoint is None and "." not in options.bucket else "path"
        self._virtual = style == "virtual"

    @property
    def location(self) -> str:
        return self._options.location

    @property
    def endpoint(self) -> str:
        return str(self._endpoint)

    # -- credentials and signing -----------------------------------------------------------

    def _resolve(self) -> None:
        """botocore's chain, once (it may read files or call STS: run in a thread)."""
        if self._resolved:
            return
        if self._given_credentials is not None:
            self._credentials = self._given_credentials
            self._credential_source = "the credentials given to the store"
        else:
            import botocore.session

            session = botocore.session.get_session()
            self._credentials = session.get_credentials()
            if self._region is None:
                self._region = session.get_config_variable("region")
            if self._credentials is not None:
                method = getattr(self._credentials, "method", "") or ""
                self._credential_source = _SOURCES.get(method, f"AWS credentials ({method})")
        self._region = self._region or "us-east-1"
        self._resolved = True

    def _url(self, key: str) -> URL:
        path = quote(self._options.key(key), safe="/-_.~")
        if self._virtual:
            host = f"{self._options.bucket}.{self._endpoint.host}"
            base = self._endpoint.with_host(host)
            return URL(f"{str(base).rstrip('/')}/{path}", encoded=True)
        return URL(f"{str(self._endpoint).rstrip('/')}/{self._options.bucket}/{path}",
                   encoded=True)

    def _signed(self, method: str, url: URL, body: bytes, sha256: str,
                headers: dict[str, str]) -> dict[str, str]:
        all_headers = {**headers, "X-Amz-Content-SHA256": sha256}
        if self._credentials is None:
            return all_headers  # anonymous: a public bucket
        request = AWSRequest(method=method, url=str(url), data=body, headers=all_headers)
        frozen = self._credentials.get_frozen_credentials()
        _S3Signer(frozen, "s3", self._region).add_auth(request)
        return dict(request.headers.items())

    # -- the session ---------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext | bool:
        return ssl_context(self._network.ca_bundle)

    async def _session_for_loop(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            context = await asyncio.to_thread(self._ssl_context)
            timeout = aiohttp.ClientTimeout(total=None,
                                            sock_connect=self._network.connect_timeout,
                                            sock_read=self._network.read_timeout)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context), timeout=timeout,
                trust_env=self._network.trust_env, auto_decompress=False,
                headers={"User-Agent": f"tokenizer-acquisition/{__version__}"})
            self._loop = loop
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    # -- one request -------------------------------------------------------------------------

    async def _request(self, method: str, key: str, body: bytes = b"",
                       sha256: str = _EMPTY_SHA256, headers: dict[str, str] | None = None,
                       max_bytes: int = 1 << 20) -> tuple[int, Any, bytes]:
        if not self._resolved:
            await asyncio.to_thread(self._resolve)
        url = self._url(key)
        shown = f"{self.location}/{key}"
        last: AcquisitionError | None = None
        for attempt in range(RETRIES):
            if attempt:
                await asyncio.sleep(self._retry_delay * (3 ** (attempt - 1)))
            signed = self._signed(method, url, body, sha256, dict(headers or {}))
            try:
                session = await self._session_for_loop()
                async with session.request(method, url, data=body or None, headers=signed,
                                           allow_redirects=False) as response:
                    length = response.content_length
                    if length is not None and length > max_bytes:
                        raise NetworkError(f"object larger than {max_bytes} bytes",
                                           url=shown, status=response.status)
                    budget = self._network.read_timeout + \
                        (max_bytes if length is None else length) / MIN_BODY_RATE
                    async with asyncio.timeout(budget):
                        data = await _read_at_most(response.content, max_bytes + 1)
                    if len(data) > max_bytes:
                        raise NetworkError(f"object larger than {max_bytes} bytes",
                                           url=shown, status=response.status)
                    status, answer = response.status, response.headers
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                last = NetworkError(
                    f"cannot reach the S3 endpoint {self.endpoint} ({type(exc).__name__})",
                    url=shown, suggestions=[
                        "check s3.endpoint_url (or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL) "
                        "and that the object store is up"])
                continue
            if status >= 500 or status == 429:
                last = NetworkError("the S3 endpoint failed", url=shown, status=status,
                                    request_id=answer.get("x-amz-request-id"))
                continue
            self._check_auth(status, data, shown, answer)
            return status, answer, data
        assert last is not None
        raise last

    def _code(self, data: bytes) -> str:
        """The error body's ``<Code>``, unless it echoes (part of) a credential: a server
        may repeat the session token it was sent, and errors must never show it."""
        code = _code(data)
        credentials = self._credentials
        if not code or credentials is None:
            return code
        try:
            frozen = credentials.get_frozen_credentials()
        except Exception:  # refreshing failed: show no code at all
            return ""
        for secret in (frozen.secret_key, frozen.token):
            if secret and (secret in code or (len(code) >= 8 and code in secret)):
                return ""
        return code

    def _check_auth(self, status: int, data: bytes, shown: str, answer: Any) -> None:
        if status not in (400, 401, 403):
            return
        code = self._code(data)
        if code in AUTH_CODES or (status == 401):
            raise AuthenticationFailed(
                f"the S3 credentials were refused ({code or 'no error code'})", url=shown,
                status=status, request_id=answer.get("x-amz-request-id"), suggestions=[
                    f"check {self._credential_source}",
                    "check s3.region when the store names one"])

    # -- the port ------------------------------------------------------------------------------

    async def get(self, key: str, *, max_bytes: int) -> StoredObject | None:
        status, answer, data = await self._request("GET", key, max_bytes=max_bytes)
        if status == 404:
            return None
        if status == 403:
            raise AuthenticationFailed(
                f"the S3 identity may not read ({self._code(data) or 'AccessDenied'})",
                url=f"{self.location}/{key}", status=status, suggestions=[
                    f"grant s3:GetObject on {self.location}/* to {self._credential_source}"])
        if status != 200:
            raise NetworkError("unexpected answer from the S3 endpoint",
                               url=f"{self.location}/{key}", status=status)
        return StoredObject(data, etag=answer.get("ETag"), age_s=_age(answer))

    async def put(self, key: str, data: bytes, sha256: str, *, if_absent: bool = False,
                  if_match: str | None = None) -> Put:
        headers = {"Content-Type": "application/octet-stream"}
        if if_absent:
            headers["If-None-Match"] = "*"
        if if_match is not None:
            headers["If-Match"] = if_match
        status, _, body = await self._request("PUT", key, data, sha256, headers)
        if status in (200, 201, 204):
            return Put.WRITTEN
        if status in (409, 412) or (status == 404 and if_match is not None):
            return Put.PRECONDITION_FAILED
        if status == 403:
            self.skipped_write(
                key, f"the identity may not write ({self._code(body) or 'denied'})")
            return Put.DENIED
        raise NetworkError("the S3 endpoint refused a write", url=f"{self.location}/{key}",
                           status=status, server_message=(self._code(body) or None))

    async def delete(self, key: str) -> None:
        status, _, _ = await self._request("DELETE", key)
        if status == 403:
            self.skipped_write(key, "the identity may not delete")

    async def probe(self) -> Access:
        """Read: a signed GET of a key that does not exist (404 = may read). Write: a PUT
        of that key with ``If-Match`` on an ETag nothing has, which can never succeed:
        403 = read-only, 412 (or 404) = may write; nothing is written. A store that
        ignored the condition and wrote the empty probe gets it deleted at once."""
        key = f".tokacq-probe-{secrets.token_hex(8)}"
        try:
            status, _, data = await self._request("GET", key)
            if status == 403:
                return Access(False, False,
                              f"reads are denied ({self._code(data) or 'denied'})")
            if status not in (200, 404):
                return Access(None, None, f"HTTP {status} to a read")
            status, _, data = await self._request("PUT", key, headers={"If-Match": _PROBE_ETAG})
        except AuthenticationFailed as error:
            return Access(False, False, f"credentials refused ({error.status})")
        except NetworkError:
            return Access(None, None, f"{self.endpoint} cannot be reached")
        if status in (200, 201, 204):
            await self.delete(key)
            return Access(True, True, "the store ignored If-Match")
        return Access(True, status in (404, 409, 412))

    def skipped_write(self, key: str, reason: str) -> None:
        _log_debug("s3.write_skipped", key=f"{self.location}/{key}", reason=reason)


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The body, stopping once ``limit`` bytes arrived (``read(n)`` returns what is
    buffered, not n bytes)."""
    chunks: list[bytes] = []
    received = 0
    while received < limit:
        chunk = await stream.read(min(1 << 20, limit - received))
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


def _code(data: bytes) -> str:
    match = _CODE.search(data[:4096])
    return match.group(1).decode() if match else ""


def _age(headers: Any) -> float | None:
    try:
        date = parsedate_to_datetime(headers["Date"])
        modified = parsedate_to_datetime(headers["Last-Modified"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return max(0.0, (date - modified).total_seconds())
