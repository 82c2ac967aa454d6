"""What a downloaded file must match before it is published, as pure decisions.

Two kinds: what the finished bytes must match (``expected_for``, ``verify``), and which
answers the transport refuses because nothing could verify them (``refusal``,
``length_failure``). Issue 9: nothing unverifiable is published.

- ``Content-Encoding`` other than identity is *refused*, not decoded: we ask for
  identity, and a partial's byte offsets must be file offsets for ``Range`` to resume it.
- A 200 or 206 with no validator (no ``ETag``, no ``X-Linked-Etag``) is refused unless
  the caller pinned a sha256: it is typically a proxy's login page or an error page.
- An opaque ETag checks nothing but the size, so the size must be announced
  (``X-Linked-Size``, ``Content-Range`` total or ``Content-Length``) and met; a
  close-delimited or empty body is a failure worth retrying. A pin makes this moot.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import IntegrityError
from .hub_protocol import EtagKind, classify_etag


def git_blob_prefix(size: int) -> bytes:
    """Git hashes ``b"blob <size>\\0" + content``; a regular file's Hub ETag is that sha1."""
    return b"blob %d\x00" % size


@dataclass(frozen=True)
class Digests:
    """What was measured on the bytes written: always size and sha256."""

    size: int
    sha256: str
    git_sha1: str | None = None


@dataclass(frozen=True)
class Expected:
    """What the bytes should be; None means "not known, not checked"."""

    size: int | None = None
    sha256: str | None = None
    git_sha1: str | None = None
    pin: str | None = None


def expected_for(etag: str | None, size: int | None, pin: str | None = None) -> Expected:
    """A 64-hex ETag is the sha256, a 40-hex one the git blob sha1; others say nothing.

    An opaque ETag (an artifact proxy's, a CDN's) never fails a download: size only.
    """
    kind = classify_etag(etag)
    value = etag.lower() if etag else None
    return Expected(
        size=size,
        sha256=value if kind is EtagKind.SHA256 else None,
        git_sha1=value if kind is EtagKind.GIT_SHA1 else None,
        pin=pin.lower() if pin else None,
    )


_IDENTITY_ENCODINGS = frozenset({"", "identity"})


def refusal(file: str, *, content_encoding: str | None, identity: str | None,
            content_type: str | None, pinned: bool) -> IntegrityError | None:
    """An answer whose bytes can never be verified as the file: refused, not retried."""
    encoding = (content_encoding or "").strip().lower()
    if encoding not in _IDENTITY_ENCODINGS:
        error = IntegrityError(file, expected="identity", actual=content_encoding,
                               check="content-encoding")
        error.suggestions = (
            "the server or a proxy compressed the file although identity was asked for "
            "(Accept-Encoding: identity); its bytes would not be the file's",
            "point the endpoint at a mirror that serves files unmodified, or configure the "
            "proxy not to re-encode responses",
        )
        return error
    if identity is None and not pinned:
        kind = f" (Content-Type: {content_type})" if content_type else ""
        error = IntegrityError(file, expected="an ETag or X-Linked-Etag",
                               actual=f"no validator{kind}", check="validator")
        error.suggestions = (
            "the endpoint answered without an ETag: likely not a Hub or mirror but a proxy's "
            "or captive portal's page (an HTML login page, an error page)",
            "check the endpoint setting (HF_ENDPOINT / TOKACQ_ENDPOINT) and the proxy "
            "(HTTPS_PROXY, network.trust_env)",
            "or pin the file's sha256 (--sha256, a lock file) so its content can be checked",
        )
        return error
    return None


def needs_length(identity: str | None, *, pinned: bool) -> bool:
    """Whether only the size can verify the bytes: an opaque ETag and no pin."""
    return not pinned and classify_etag(identity) is EtagKind.OPAQUE


def length_failure(file: str, *, total: int | None, received: int | None = None
                   ) -> IntegrityError | None:
    """For a file only its size verifies (``needs_length``): no announced size, or an
    empty body, is a failed attempt (the transport retries it). ``received`` is None
    before the body is read."""
    if total is None:
        return IntegrityError(
            file, expected="an announced length (X-Linked-Size, Content-Range or "
            "Content-Length)", actual="a body delimited by the connection's close",
            check="size")
    if received == 0:
        # No tokenizer file is empty, and an opaque ETag cannot tell an empty file from
        # a proxy's empty answer.
        return IntegrityError(file, expected="a non-empty file", actual="0 bytes",
                              check="size")
    return None


def needs_git_sha1(etag: str | None) -> bool:
    return classify_etag(etag) is EtagKind.GIT_SHA1


def verify(file: str, expected: Expected, actual: Digests) -> IntegrityError | None:
    """The first failed check, in order size, sha256, git sha1, the caller's pin."""
    if expected.size is not None and actual.size != expected.size:
        return IntegrityError(file, expected=f"{expected.size} bytes",
                              actual=f"{actual.size} bytes", check="size")
    if expected.sha256 is not None and actual.sha256 != expected.sha256:
        return IntegrityError(file, expected=expected.sha256, actual=actual.sha256,
                              check="sha256")
    if expected.git_sha1 is not None and actual.git_sha1 != expected.git_sha1:
        return IntegrityError(file, expected=expected.git_sha1, actual=actual.git_sha1,
                              check="git-sha1")
    if expected.pin is not None and actual.sha256 != expected.pin:
        return IntegrityError(file, expected=expected.pin, actual=actual.sha256,
                              check="sha256 pin")
    return None


def too_large(file: str, size: int, limit: int) -> IntegrityError | None:
    """``max_file_bytes``: applied to the announced size and again to the bytes received."""
    if size <= limit:
        return None
    error = IntegrityError(file, expected=f"at most {limit} bytes", actual=f"{size} bytes",
                           check="max_file_bytes")
    error.suggestions = (
        "raise network.max_file_bytes if this file is legitimately this large",
        "otherwise the server announces or sends more than a tokenizer file should hold",
    )
    return error
