"""Acquisition events as structlog events. The library logs; the application configures."""

from __future__ import annotations

from typing import Any

import structlog

from ..ports.events import AcquisitionObserver, AttemptEvent

#: Hits and skips happen on every request of a service: debug, never info.
_LEVELS = {"failed": "warning", "hit": "debug", "skipped": "debug"}


class StructlogObserver(AcquisitionObserver):
    """One event per attempt: strategy, cache_key, outcome, duration.

    The bound logger is rebuilt whenever the application's structlog configuration
    changes, so configuring logging after the first acquisition still takes effect, while
    a hit costs one filtered call instead of a fresh bind. Until the application
    configures structlog, debug events are not emitted at all: structlog's defaults print
    every level to stdout, and a cache hit must not print.
    """

    def __init__(self, logger_name: str = "tokenizer_acquisition") -> None:
        self._logger_name = logger_name
        self._stamp: tuple[object, ...] | None = None
        self._logger: Any = None

    def _bound(self) -> Any:
        config = structlog.get_config()
        stamp = (id(config["processors"]), config["wrapper_class"], config["logger_factory"],
                 config["context_class"], structlog.is_configured())
        if stamp != self._stamp:
            self._logger = structlog.get_logger(self._logger_name).bind()
            self._stamp = stamp
        return self._logger

    def attempt_finished(self, event: AttemptEvent) -> None:
        level = _LEVELS.get(event.outcome, "info")
        if level == "debug" and not structlog.is_configured():
            return
        fields = {k: v for k, v in vars(event).items() if v is not None}
        getattr(self._bound(), level)("tokenizer.attempt", **fields)
