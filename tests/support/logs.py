"""Capture the library's ``logging`` records as dicts, like structlog's ``capture_logs``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tokenizer_acquisition.adapters.logging_observer import LogEvent

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}


class _Collect(logging.Handler):
    def __init__(self, into: list[dict[str, Any]]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        event = record.args[0] if isinstance(record.args, tuple) and record.args else None
        name = event.name if isinstance(event, LogEvent) else record.getMessage()
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        self.into.append({"event": name, "log_level": record.levelname.lower(), **fields,
                          "message": record.getMessage()})


@contextmanager
def capture_events(logger: str = "tokenizer_acquisition") -> Iterator[list[dict[str, Any]]]:
    """Every record of ``logger`` (all levels) while the block runs."""
    target = logging.getLogger(logger)
    records: list[dict[str, Any]] = []
    handler = _Collect(records)
    level = target.level
    target.setLevel(logging.DEBUG)
    target.addHandler(handler)
    try:
        yield records
    finally:
        target.removeHandler(handler)
        target.setLevel(level)
