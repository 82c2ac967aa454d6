"""Figures for ``docs/RELIABILITY.md``: every scenario records its runs, passes and bytes lost.

Set ``TOKACQ_RELIABILITY_RESULTS=path.json`` to have the session write them (merged with
what the file already holds, so a normal run and a ``-m soak`` run add up); render them
with ``python tests/reliability/report.py path.json``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

RESULTS_ENV = "TOKACQ_RELIABILITY_RESULTS"


@dataclass
class Figure:
    """One scenario's counts; ``bytes_lost`` counts bytes handed out or kept that are wrong."""

    scenario: str
    command: str
    runs: int = 0
    passed: int = 0
    bytes_lost: int = 0


class Results:
    """Thread-safe tally by scenario; tests add counts before asserting on them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.figures: dict[str, Figure] = {}

    def add(self, scenario: str, *, runs: int, passed: int, bytes_lost: int = 0,
            command: str) -> None:
        with self._lock:
            figure = self.figures.setdefault(scenario, Figure(scenario, command))
            figure.runs += runs
            figure.passed += passed
            figure.bytes_lost += bytes_lost

    def write(self, path: Path) -> None:
        previous: dict[str, dict[str, object]] = {}
        if path.exists():
            previous = json.loads(path.read_text()).get("scenarios", {})
        # A scenario measured in this session replaces its earlier figures.
        merged = {**previous, **{name: asdict(f) for name, f in self.figures.items()}}
        document = {"updated": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "scenarios": merged}
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="session")
def results() -> Iterator[Results]:
    """The session's figures; written to ``$TOKACQ_RELIABILITY_RESULTS`` at the end."""
    target = os.environ.get(RESULTS_ENV)  # read before any test's monkeypatch runs
    tally = Results()
    yield tally
    if target:
        tally.write(Path(target))
