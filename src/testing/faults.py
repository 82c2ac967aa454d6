"""Faults the Hub simulator injects into its answers, and the plan that hands them out.

Each fault is a frozen value so tests can compare, print and log it; the simulator
decides how to act on it (see ``http_body.send_file_body``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

__all__ = [
    "DEFAULT_RANDOM_KINDS",
    "CloseDelimited",
    "ContentEncoding",
    "Corrupt",
    "EmptyBody",
    "Endless",
    "ExtraBytes",
    "Fault",
    "FaultPlan",
    "FaultStage",
    "IgnoreRange",
    "Latency",
    "NoEtag",
    "ResetAfter",
    "SlowDrip",
    "SpliceTotal",
    "Status",
    "Truncate",
    "WrongLength",
]


def _non_negative(name: str, value: float) -> None:
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


@dataclass(frozen=True)
class ResetAfter:
    """Send the headers and ``n_bytes`` of body, then reset the TCP connection (RST)."""

    n_bytes: int

    def __post_init__(self) -> None:
        _non_negative("n_bytes", self.n_bytes)


@dataclass(frozen=True)
class Truncate:
    """Announce the full Content-Length, send ``n_bytes``, then close cleanly (FIN)."""

    n_bytes: int

    def __post_init__(self) -> None:
        _non_negative("n_bytes", self.n_bytes)


@dataclass(frozen=True)
class IgnoreRange:
    """Answer 200 with the whole body even when the request carried a Range."""


@dataclass(frozen=True)
class Status:
    """Answer ``code`` with these headers and body instead of the file (e.g. 429, 503)."""

    code: int
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    body: bytes = b""


@dataclass(frozen=True)
class Corrupt:
    """Flip one byte of the body while keeping every header (ETag, length) of the real file.

    ``offset`` is a position in the file; None means the middle of the bytes being served.
    An offset outside the served range corrupts the first byte served instead.
    """

    offset: int | None = None


@dataclass(frozen=True)
class WrongLength:
    """Announce ``Content-Length: size + delta``.

    ``delta > 0``: the true bytes are sent, then the connection is closed, so the client
    sees a short body. ``delta < 0``: only the announced prefix is sent (bytes past the
    announced length would corrupt the next response on a kept-alive connection), then
    the connection is closed; the client sees a well-framed but short file.
    """

    delta: int


@dataclass(frozen=True)
class ExtraBytes:
    """Chunked body (no Content-Length): the real bytes followed by ``n_bytes`` of junk."""

    n_bytes: int

    def __post_init__(self) -> None:
        _non_negative("n_bytes", self.n_bytes)


@dataclass(frozen=True)
class Endless:
    """Chunked body that never ends; stops at ``cap_bytes`` or when the client leaves."""

    cap_bytes: int = 1 << 30

    def __post_init__(self) -> None:
        _non_negative("cap_bytes", self.cap_bytes)


@dataclass(frozen=True)
class SlowDrip:
    """Send the body ``chunk_size`` bytes at a time with ``delay_s`` between chunks."""

    chunk_size: int = 1024
    delay_s: float = 0.01

    def __post_init__(self) -> None:
        if self.chunk_size <= 0:
            raise ValueError("chunk_size must be > 0")
        _non_negative("delay_s", self.delay_s)


@dataclass(frozen=True)
class Latency:
    """Wait ``seconds`` before answering at all."""

    seconds: float

    def __post_init__(self) -> None:
        _non_negative("seconds", self.seconds)


@dataclass(frozen=True)
class ContentEncoding:
    """Answer 200 with the whole file encoded (``gzip`` or ``deflate``; any other name is
    only sent as the header) and ``Content-Encoding`` set, whatever the request asked for
    (``Accept-Encoding: identity``, ``Range``). ETag and the framing stay consistent."""

    encoding: str = "gzip"


@dataclass(frozen=True)
class NoEtag:
    """Answer 200 without an ETag, like a proxy's page: ``body`` (served as text/html)
    instead of the file when given, else the file's own bytes."""

    body: bytes | None = None


@dataclass(frozen=True)
class CloseDelimited:
    """No Content-Length and no chunking: the body ends when the connection closes, after
    ``n_bytes`` of it (None: all). Range is honoured."""

    n_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.n_bytes is not None:
            _non_negative("n_bytes", self.n_bytes)


@dataclass(frozen=True)
class EmptyBody:
    """Answer 200 with ``Content-Length: 0`` and nothing else, whatever was asked."""


@dataclass(frozen=True)
class SpliceTotal:
    """Answer a ranged request with 206 and the same ETag, but from a version of the file
    ``delta`` bytes longer (filler appended) or shorter: its ``Content-Range`` total differs
    from the file's. A request without Range is answered normally."""

    delta: int


Fault: TypeAlias = (
    ResetAfter
    | Truncate
    | IgnoreRange
    | Status
    | Corrupt
    | WrongLength
    | ExtraBytes
    | Endless
    | SlowDrip
    | Latency
    | ContentEncoding
    | NoEtag
    | CloseDelimited
    | EmptyBody
    | SpliceTotal
)

FaultStage: TypeAlias = Literal["body", "metadata"]
"""``body``: GETs that serve file bytes (resolve, resolve-cache or CDN).
``metadata``: every other file request (HEAD, and GETs answered with a redirect)."""

_METADATA_FAULTS = (Status, Latency)

DEFAULT_RANDOM_KINDS: tuple[Fault, ...] = (
    ResetAfter(4096),
    Truncate(4096),
    Status(503),
    Status(429, {"Retry-After": "0"}),
    IgnoreRange(),
)
"""Transient faults a correct client must survive by retrying; no silent corruption."""


@dataclass
class _Queued:
    fault: Fault
    path: str | None
    remaining: int
    stage: FaultStage


class FaultPlan:
    """Thread-safe queue of injected faults plus an optional seeded random mode.

    Queued faults win over random ones; both are consumed in request arrival order,
    which makes a random run reproducible for a given seed and request sequence.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._rng: random.Random | None = None
        self._rate = 0.0
        self._kinds: tuple[Fault, ...] = ()

    def inject(self, fault: Fault, *, path: str | None, times: int, stage: FaultStage) -> None:
        if times < 1:
            raise ValueError("times must be >= 1")
        if stage == "metadata" and not isinstance(fault, _METADATA_FAULTS):
            raise ValueError(f"{type(fault).__name__} only applies to body requests")
        with self._lock:
            self._queue.append(_Queued(fault, path, times, stage))

    def set_random(self, rate: float, seed: int, kinds: Sequence[Fault]) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        if rate > 0 and not kinds:
            raise ValueError("kinds must not be empty")
        with self._lock:
            self._rng = random.Random(seed) if rate > 0 else None
            self._rate = rate
            self._kinds = tuple(kinds)

    def take(self, path: str | None, stage: FaultStage) -> Fault | None:
        """Consume the fault that applies to a request for repo file ``path``, if any."""
        with self._lock:
            for queued in self._queue:
                if queued.stage == stage and queued.path in (None, path):
                    queued.remaining -= 1
                    if queued.remaining == 0:
                        self._queue.remove(queued)
                    return queued.fault
            rng = self._rng
            if stage == "body" and rng is not None and rng.random() < self._rate:
                return rng.choice(self._kinds)
        return None

    @property
    def pending(self) -> int:
        """How many queued fault applications are still waiting for a request."""
        with self._lock:
            return sum(q.remaining for q in self._queue)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._rng = None
            self._rate = 0.0
