"""An object store the fleet shares (S3 and compatibles): the ``s3`` strategy's only need.

Small on purpose: get, conditional put, delete and an access probe, with keys relative
to the configured prefix. A test fake is a dict. Implementations raise the domain's
typed errors: ``AuthenticationFailed`` when the credentials are refused (a wrong secret,
an unknown key id, no read permission), ``NetworkError`` when the store cannot be
reached or keeps failing. A write the credentials may not make is not an error: ``put``
answers ``DENIED`` and the caller carries on without writing.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass


class Put(enum.Enum):
    """How a conditional ``put`` ended."""

    WRITTEN = "written"
    #: The condition did not hold (the key exists for ``if_absent``, or its ETag moved).
    PRECONDITION_FAILED = "precondition failed"
    #: The credentials may read but not write here.
    DENIED = "denied"


@dataclass(frozen=True)
class StoredObject:
    """An object's bytes and what the store says about it. ``age_s`` is its age by the
    store's own clock (``Date`` minus ``Last-Modified``) when both were given."""

    data: bytes
    etag: str | None = None
    age_s: float | None = None


@dataclass(frozen=True)
class Access:
    """What the configured identity may do: ``read`` and ``write`` are None when unknown,
    with ``detail`` saying why (the store unreachable, no credentials...)."""

    read: bool | None
    write: bool | None
    detail: str | None = None

    def describe(self) -> str:
        if self.read is None:
            return f"unknown ({self.detail})" if self.detail else "unknown"
        if not self.read:
            return f"none ({self.detail})" if self.detail else "none"
        return "read-write" if self.write else "read-only"


class ObjectStore(ABC):
    """Keys are relative to the configured prefix (``blobs/<sha256>``, ``sets/...``)."""

    @property
    @abstractmethod
    def location(self) -> str:
        """``s3://bucket/prefix``, for messages (never credentials)."""

    @abstractmethod
    async def get(self, key: str, *, max_bytes: int) -> StoredObject | None:
        """The object, or None when it does not exist; larger than ``max_bytes`` is a
        ``NetworkError`` (nothing of ours is that big)."""

    @abstractmethod
    async def put(self, key: str, data: bytes, sha256: str, *, if_absent: bool = False,
                  if_match: str | None = None) -> Put:
        """Write ``data`` (whose sha256 is ``sha256``, sent as the payload hash) under
        ``key``; with ``if_absent`` only where nothing is (``If-None-Match: *``), with
        ``if_match`` only over that ETag."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key`` (absent is fine); a denied delete is ignored."""

    @abstractmethod
    async def probe(self) -> Access:
        """What the identity may do, found without writing anything."""

    def skipped_write(self, key: str, reason: str) -> None:  # noqa: B027 - optional hook
        """Report (a debug event) that a write was not made; never an error."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release the HTTP session; idempotent."""
