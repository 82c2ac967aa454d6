"""Acquisition events as standard ``logging`` records. The library logs; the application
configures.

Every record goes to a logger under ``tokenizer_acquisition`` (this one is
``tokenizer_acquisition.events``; the transport's is ``tokenizer_acquisition.network``).
The package attaches a ``logging.NullHandler`` to ``tokenizer_acquisition``, as httpx,
urllib3 and huggingface_hub do, so until the application configures logging nothing is
printed, not even warnings (Python's last-resort handler only speaks for loggers with no
handler at all). Applications choose with ordinary configuration::

    logging.getLogger("tokenizer_acquisition").setLevel(logging.DEBUG)

Each record's message is ``<event> key=value ...`` (rendered only when a handler takes
it), and every field is also an attribute of the record (``record.cache_key``,
``record.outcome``): a JSON formatter, or structlog's ``ExtraAdder`` in a
``ProcessorFormatter``'s ``foreign_pre_chain``, turns them into keys.
"""

from __future__ import annotations

import logging
from typing import Any

from ..ports.events import AcquisitionObserver, AttemptEvent

EVENTS_LOGGER = "tokenizer_acquisition.events"

#: A miss is what a cache part of a hybrid is for: expected, so debug (like hits and skips).
_MISS_ERRORS = frozenset({"TokenizerNotFound"})


class LogEvent:
    """A message rendered only when some handler formats it: ``name key=value ...``."""

    __slots__ = ("fields", "name")

    def __init__(self, name: str, fields: dict[str, Any]) -> None:
        self.name = name
        self.fields = fields

    def __str__(self) -> str:
        rendered = " ".join(f"{key}={value}" for key, value in self.fields.items())
        return f"{self.name} {rendered}" if rendered else self.name


def log_event(logger: logging.Logger, level: int, name: str, **fields: Any) -> None:
    """Emit ``name`` with ``fields`` as record attributes, if ``level`` is enabled.

    A field that would overwrite a ``LogRecord`` attribute (``name``, ``msg``, ...) is
    renamed with a ``tokacq_`` prefix instead of raising.
    """
    if not logger.isEnabledFor(level):
        return
    extra = {(f"tokacq_{key}" if key in _RESERVED else key): value
             for key, value in fields.items()}
    logger.log(level, "%s", LogEvent(name, fields), extra=extra)


_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime"}


def level_of(event: AttemptEvent) -> int:
    """Hits, skips and misses are debug; downloads info; other failures warnings."""
    if event.outcome in ("hit", "skipped"):
        return logging.DEBUG
    if event.outcome == "failed":
        return logging.DEBUG if event.error_type in _MISS_ERRORS else logging.WARNING
    return logging.INFO


class LoggingObserver(AcquisitionObserver):
    """One ``tokenizer.attempt`` record per attempt: strategy, cache_key, outcome, duration.

    The logger is looked up once (``logging.getLogger`` returns the same object for a
    name, and honours configuration made later), so a hit costs one ``isEnabledFor``.
    """

    def __init__(self, logger_name: str = EVENTS_LOGGER) -> None:
        self._logger = logging.getLogger(logger_name)

    def attempt_finished(self, event: AttemptEvent) -> None:
        level = level_of(event)
        if not self._logger.isEnabledFor(level):
            return
        fields = {k: v for k, v in vars(event).items() if v is not None}
        log_event(self._logger, level, "tokenizer.attempt", **fields)
