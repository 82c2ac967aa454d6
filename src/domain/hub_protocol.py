"""The Hub's file-download protocol as pure functions: URLs, ETags, response facts, errors.

Headers arrive as any ``Mapping[str, str]``; lookups here are case-insensitive so the
adapter may pass its own header type (aiohttp's ``CIMultiDictProxy``) or a plain dict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from urllib.parse import quote

from .errors import (
    AuthenticationFailed,
    EntryNotFound,
    GatedRepository,
    NetworkError,
    RateLimited,
    RepositoryNotFound,
    RevisionNotFound,
)
from .safe_text import safe_text

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_DIGITS = re.compile(r"[0-9]{1,18}")


def resolve_url(endpoint: str, repo: str, revision: str, file: str) -> str:
    """``{endpoint}/{repo}/resolve/{revision}/{file}`` quoted as ``huggingface_hub`` does."""
    return f"{endpoint.rstrip('/')}/{repo}/resolve/{quote(revision, safe='')}/{quote(file)}"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup that works on a plain dict too."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def normalize_etag(raw: str | None) -> str | None:
    """Strip ``W/`` and quotes; the Hub's clients compare ETags this leniently."""
    if raw is None:
        return None
    value = raw.strip()
    value = value.removeprefix("W/").removeprefix("w/").strip().strip('"').strip()
    return value or None


class EtagKind(Enum):
    """What an ETag tells us about the content."""

    SHA256 = "sha256"  # LFS files (X-Linked-Etag), and mirrors serving LFS directly
    GIT_SHA1 = "git-sha1"  # regular files: sha1(b"blob <size>\0" + content)
    OPAQUE = "opaque"  # anything else: verify the size only


def classify_etag(etag: str | None) -> EtagKind:
    value = (etag or "").lower()
    if _HEX64.match(value):
        return EtagKind.SHA256
    if _HEX40.match(value):
        return EtagKind.GIT_SHA1
    return EtagKind.OPAQUE


def _commit_header(value: str | None) -> str | None:
    """A 40-hex commit (any case, normalised to lower case); anything else is as if the
    server had not said: it would otherwise name a snapshot directory (``../x``)."""
    if value is None:
        return None
    value = value.strip().lower()
    return value if _HEX40.match(value) else None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = header(headers, name)
    # ASCII digits only, bounded: "²".isdigit() is True but int("²") raises ValueError.
    if value is None or not _DIGITS.fullmatch(value.strip()):
        return None
    return int(value.strip())


@dataclass(frozen=True)
class RemoteFacts:
    """What the headers of one response say about the file (any field may be unknown)."""

    commit: str | None = None
    linked_etag: str | None = None
    linked_size: int | None = None
    etag: str | None = None
    content_length: int | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RemoteFacts:
        return cls(
            commit=_commit_header(header(headers, "X-Repo-Commit")),
            linked_etag=normalize_etag(header(headers, "X-Linked-Etag")),
            linked_size=_int_header(headers, "X-Linked-Size"),
            etag=normalize_etag(header(headers, "ETag")),
            content_length=_int_header(headers, "Content-Length"),
        )

    def merged(self, later: RemoteFacts) -> RemoteFacts:
        """Facts across a redirect chain: the Hub's hop names the file, the last hop the bytes.

        ``X-Repo-Commit`` and ``X-Linked-*`` come from the first hop that sends them (the
        endpoint); ``ETag`` and ``Content-Length`` from the response that carries the body.
        """
        return RemoteFacts(
            commit=self.commit or later.commit,
            linked_etag=self.linked_etag or later.linked_etag,
            linked_size=self.linked_size if self.linked_size is not None else later.linked_size,
            etag=later.etag,
            content_length=later.content_length,
        )

    @property
    def identity(self) -> str | None:
        """The file's ETag as the Hub names it: ``X-Linked-Etag``, else ``ETag``."""
        return self.linked_etag or self.etag


# -- errors ----------------------------------------------------------------------------------

_PRIVATE_HINT = (
    "if the repo is private, set HF_TOKEN (or network.token) to a token that can read it")
_TOKEN_HINTS = (
    "check the token: it may be mistyped, expired or revoked (refresh it on the Hub)",
    "set HF_TOKEN (or network.token / network.token_file) to a valid token that can read "
    "the repo",
)


def error_for(
    status: int | None,
    headers: Mapping[str, str],
    *,
    url: str,
    file: str,
    repo: str,
    revision: str,
    retry_after: float | None = None,
    reason: str | None = None,
    secrets: Iterable[str] = (),
) -> NetworkError:
    """The typed error for a final (non-retried) failure; ``url`` must carry no token.

    Whatever the server said (``X-Error-Message``, ``X-Request-Id``) and ``reason`` reach
    the error only with every one of ``secrets`` (the configured token), any ``Bearer``
    credential and any ``hf_`` token masked, and control characters escaped: a server may
    echo the ``Authorization`` header, or send terminal escape sequences.
    """
    secrets = tuple(secrets)

    def from_server(text: str | None) -> str | None:
        return None if text is None else safe_text(text, secrets)

    code = header(headers, "X-Error-Code")
    server = from_server(header(headers, "X-Error-Message"))
    request_id = from_server(header(headers, "X-Request-Id") or header(headers, "X-Amz-Cf-Id"))
    reason = from_server(reason)

    def build(cls: type[NetworkError], message: str, *hints: str) -> NetworkError:
        return cls(message, url=url, status=status, server_message=server,
                   request_id=request_id, suggestions=hints)

    if code == "RepoNotFound":
        # The Hub answers 401 + RepoNotFound for a missing repo and for a private one the
        # token cannot see (it does not tell them apart).
        return build(RepositoryNotFound, f"repository {repo!r} not found",
                     f"check the repo id {repo!r}", _PRIVATE_HINT)
    if code == "GatedRepo":
        return build(GatedRepository, f"repository {repo!r} is gated",
                     f"accept the licence on the repo page ({repo})",
                     "then set HF_TOKEN (or network.token) to a token of that account")
    if status in (401, 403):
        # "Invalid credentials in Authorization header", or a mirror/proxy refusing us.
        return build(AuthenticationFailed,
                     f"the server refused the credentials for {file!r} in {repo!r}",
                     *_TOKEN_HINTS)
    if code == "RevisionNotFound":
        return build(RevisionNotFound, f"revision {revision!r} not found in {repo!r}",
                     f"check the revision {revision!r} (branch, tag or commit)")
    if code == "EntryNotFound" or (code is None and status == 404):
        # A mirror or proxy answers a plain 404; the file is the likeliest thing missing.
        hints = [f"check that {file!r} exists in {repo!r} at {revision!r}"]
        if code is None:
            hints.append(f"the server gave no reason: also check the repo id {repo!r}")
        return EntryNotFound(f"file {file!r} not found in {repo!r} at {revision!r}",
                             file=file, url=url, status=status, server_message=server,
                             request_id=request_id, suggestions=hints)
    if status == 429:
        wait = f"; retry after {retry_after:g}s" if retry_after is not None else ""
        return RateLimited(
            f"rate limited while fetching {file!r}{wait}", retry_after=retry_after, url=url,
            status=status, server_message=server, request_id=request_id,
            suggestions=("wait and retry, or set HF_TOKEN: authenticated requests get "
                         "higher limits",))
    what = reason or (f"could not fetch {file!r}" if status is None
                      else f"unexpected answer for {file!r}")
    return build(NetworkError, what, "check connectivity and the endpoint setting")
