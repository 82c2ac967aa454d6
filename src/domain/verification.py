"""What a downloaded file must match before it is published, as a pure decision."""

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
