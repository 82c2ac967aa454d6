"""When to retry, how long to wait, and whether a partial file may be appended to. No I/O.

The transport adapter asks these functions at every turn of its download loop, so the
rules of the protocol are tested here without sockets.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from .hub_protocol import header

#: Answers worth asking again: timeouts, rate limits and server-side trouble.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Statuses whose wait hint (``Retry-After``, ``RateLimit``) we honour.
SERVER_DELAY_STATUSES = frozenset({429, 503})

# ASCII digits, at most 18: int() of a 5,000-digit header raises ValueError (and would
# mean nothing), and \d also matches digits of other scripts.
_NUM = r"[0-9]{1,18}(?![0-9])"
_RATELIMIT = re.compile(
    rf"\"?[\w-]*\"?\s*;\s*r\s*=\s*(?P<r>{_NUM})\s*;\s*t\s*=\s*(?P<t>{_NUM})", re.ASCII)
_CONTENT_RANGE = re.compile(rf"^\s*bytes\s+(?:({_NUM})-({_NUM})|\*)/({_NUM}|\*)\s*$",
                            re.IGNORECASE | re.ASCII)


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After``: delay-seconds or an HTTP-date; None if unusable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds else None
    from email.utils import parsedate_to_datetime  # rare (an HTTP-date Retry-After)

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def parse_ratelimit(value: str | None) -> float | None:
    """The Hub's ``RateLimit: "api";r=0;t=55``: seconds until reset when nothing remains."""
    if value is None:
        return None
    match = _RATELIMIT.search(value)
    if match is None or int(match["r"]) > 0:
        return None
    return float(match["t"])


def server_delay(status: int, headers: Mapping[str, str], *, now: float | None = None
                 ) -> float | None:
    """How long the server asked us to wait on a 429/503; None when it did not say."""
    if status not in SERVER_DELAY_STATUSES:
        return None
    delay = parse_retry_after(header(headers, "Retry-After"), now=now)
    if delay is None:
        delay = parse_ratelimit(header(headers, "RateLimit"))
    return delay


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: ``uniform(0, min(cap, base * 2**(n-1)))``.

    ``max_server_delay`` bounds how long we honour a server's wait hint; a longer hint
    ends the retries at once (a 429 then becomes ``RateLimited(retry_after)``).
    """

    base: float = 0.5
    cap: float = 30.0
    max_server_delay: float = 120.0

    def delay(self, failures: int, rand: Callable[[], float]) -> float:
        if failures <= 0:
            return 0.0
        ceiling = min(self.cap, self.base * 2.0 ** min(failures - 1, 62))
        return float(rand()) * ceiling


class RetryState:
    """Counts consecutive attempts that made no progress; ``max_retries`` of them are retried.

    An attempt that wrote bytes resets the count: a connection that drops every 100 MB
    still finishes a large file, while a server that never delivers a byte is given up on.
    """

    def __init__(self, max_retries: int, backoff: Backoff,
                 rand: Callable[[], float]) -> None:
        self.max_retries = max_retries
        self.backoff = backoff
        self._rand = rand
        self.stalled = 0
        self.attempts = 0

    def next_delay(self, *, progressed: bool, hint: float | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        self.attempts += 1
        self.stalled = 0 if progressed else self.stalled + 1
        if self.stalled > self.max_retries:
            return None
        if hint is not None:
            return hint if hint <= self.backoff.max_server_delay else None
        return self.backoff.delay(max(self.stalled, 1), self._rand)


# -- resuming --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ContentRange:
    """``Content-Range: bytes start-end/total``; ``start``/``end`` None for ``bytes */total``."""

    start: int | None
    end: int | None
    total: int | None


def parse_content_range(value: str | None) -> ContentRange | None:
    if value is None:
        return None
    match = _CONTENT_RANGE.match(value)
    if match is None:
        return None
    first, last, total = match.groups()
    return ContentRange(
        start=int(first) if first is not None else None,
        end=int(last) if last is not None else None,
        total=int(total) if total != "*" else None,
    )


class ResumeAction(Enum):
    """What to do with a partial file given the answer to a (possibly ranged) GET."""

    APPEND = "append"  # 206 continuing exactly where the partial ends
    TRUNCATE = "truncate"  # 200: the full body follows; start the partial over with it
    RESTART = "restart"  # unusable answer (416, wrong range, changed file): discard, ask again


def resume_action(
    status: int,
    *,
    offset: int,
    content_range: ContentRange | None,
    stored_identity: str | None,
    identity: str | None,
    stored_total: int | None = None,
) -> ResumeAction:
    """Decide from a 200/206/416 to a request sent with ``Range: bytes=<offset>-``.

    A partial whose validator no longer matches is never appended to, even when a server
    that ignores ``If-Range`` answers 206: the identity (X-Linked-Etag, else ETag) must be
    the one stored beside the partial, and the file's total size the stored one (a
    different ``Content-Range`` total under the same ETag would splice two files).
    """
    if status == 200:
        return ResumeAction.TRUNCATE
    if status != 206 or offset <= 0 or content_range is None:
        return ResumeAction.RESTART
    if content_range.start != offset:
        return ResumeAction.RESTART
    if stored_identity is None or identity != stored_identity:
        return ResumeAction.RESTART
    if stored_total is not None and content_range.total is not None \
            and content_range.total != stored_total:
        return ResumeAction.RESTART
    return ResumeAction.APPEND


def range_header(offset: int) -> str:
    return f"bytes={offset}-"


def announced_total(status: int, facts_size: int | None, content_length: int | None,
                    content_range: ContentRange | None) -> int | None:
    """The whole file's size: ``X-Linked-Size``, else the range's total, else the length."""
    if facts_size is not None:
        return facts_size
    if status == 206:
        return content_range.total if content_range is not None else None
    return content_length
