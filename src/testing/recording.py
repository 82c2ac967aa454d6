"""What the Hub simulator saw on the wire, so tests assert on requests rather than logs.

A request is logged when it arrives and its entry is updated *before* each byte goes
out, so a client that has read a response always finds it complete in the log, even
across threads. Only booleans about credentials are kept: a token never reaches the log.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal, TypeAlias

from .faults import Fault

__all__ = ["Exchange", "Listener", "RecordedRequest", "RequestLog"]

Listener: TypeAlias = Literal["hub", "cdn"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request and how it was answered.

    ``authorized``: an Authorization header arrived (whatever it held).
    ``token_valid``: it was ``Bearer <t>`` with ``t`` in the simulator's tokens.
    ``bytes_sent``: body bytes handed to the transport (0 for HEAD).
    ``status``: 0 while the request has not been answered yet.
    ``repo_id``/``file``: the repo file the request was about, also for CDN requests.
    """

    method: str
    path: str
    host: str
    port: int
    range: str | None
    if_range: str | None
    authorized: bool
    token_valid: bool
    status: int
    bytes_sent: int
    fault: str | None
    listener: Listener = "hub"
    repo_id: str | None = None
    file: str | None = None
    request_id: str = ""

    @property
    def served_body(self) -> bool:
        """A GET answered with file bytes (200/206), possibly cut short by a fault."""
        return self.method == "GET" and self.file is not None and self.status in (200, 206)


@dataclass
class Exchange:
    """A request being answered; handlers fill it in, the log reads it live."""

    request_id: str
    listener: Listener
    method: str
    path: str
    host: str
    port: int
    range: str | None
    if_range: str | None
    authorized: bool
    token_valid: bool
    repo_id: str | None = None
    file: str | None = None
    fault: Fault | None = None
    bytes_sent: int = 0
    status: int | None = None

    def freeze(self) -> RecordedRequest:
        return RecordedRequest(
            method=self.method,
            path=self.path,
            host=self.host,
            port=self.port,
            range=self.range,
            if_range=self.if_range,
            authorized=self.authorized,
            token_valid=self.token_valid,
            status=self.status or 0,
            bytes_sent=self.bytes_sent,
            fault=repr(self.fault) if self.fault is not None else None,
            listener=self.listener,
            repo_id=self.repo_id,
            file=self.file,
            request_id=self.request_id,
        )


class RequestLog:
    """Thread-safe, arrival-ordered list of requests, frozen on read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Exchange] = []

    def append(self, item: Exchange) -> None:
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return [item.freeze() for item in self._items]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def matching(self, path_substring: str) -> list[RecordedRequest]:
        """Requests whose URL path contains ``path_substring``."""
        return [r for r in self.snapshot() if path_substring in r.path]

    def file_gets(self, path: str, repo_id: str | None = None) -> list[RecordedRequest]:
        """GETs that served bytes of repo file ``path`` (through resolve or the CDN)."""
        return [
            r
            for r in self.snapshot()
            if r.served_body and r.file == path and repo_id in (None, r.repo_id)
        ]
