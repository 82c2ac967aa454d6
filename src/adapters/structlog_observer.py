"""Acquisition events as structlog events. The library logs; the application configures."""

from __future__ import annotations

import structlog

from ..ports.events import AcquisitionObserver, AttemptEvent


class StructlogObserver(AcquisitionObserver):
    """One event per attempt: strategy, cache_key, outcome, duration."""

    def __init__(self, logger_name: str = "tokenizer_acquisition") -> None:
        self._logger_name = logger_name

    def attempt_finished(self, event: AttemptEvent) -> None:
        # Looked up per call (cheap) so applications that configure structlog late still win.
        log = structlog.get_logger(self._logger_name)
        fields = {k: v for k, v in vars(event).items() if v is not None}
        # Hits happen on every request of a service: keep them out of info-level logs.
        level = {"failed": "warning", "hit": "debug", "skipped": "debug"}.get(event.outcome, "info")
        getattr(log, level)("tokenizer.attempt", **fields)
