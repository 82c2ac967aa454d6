"""Progress bars on a terminal, drawn from the observer's file hooks.

One status line, rewritten in place (``\\r`` and erase-line), shows every file in flight;
a finished file gets its own permanent line. Meant for a TTY only: the CLI plugs it in
when stderr is a terminal and ``--quiet`` is not given, so pipes and logs stay clean.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from typing import TextIO

from ..ports.events import AcquisitionObserver

_BAR = 20


@dataclass
class _Transfer:
    total: int | None
    done: int = 0


def human_size(nbytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError("unreachable")


class ProgressBarObserver(AcquisitionObserver):
    """Draws to ``stream``; redraws at most every ``interval`` seconds while bytes flow."""

    def __init__(self, stream: TextIO, *, interval: float = 0.1, width: int | None = None
                 ) -> None:
        self._stream = stream
        self._interval = interval
        self._width = width
        self._active: dict[tuple[str, str], _Transfer] = {}
        self._last_draw = 0.0
        self._drawn = False

    def file_started(self, cache_key: str, file: str, total: int | None) -> None:
        self._active[(cache_key, file)] = _Transfer(total)
        self._draw(force=True)

    def file_advanced(self, cache_key: str, file: str, nbytes: int) -> None:
        transfer = self._active.setdefault((cache_key, file), _Transfer(None))
        transfer.done += nbytes
        self._draw()

    def file_restarted(self, cache_key: str, file: str) -> None:
        transfer = self._active.get((cache_key, file))
        if transfer is not None:
            transfer.done = 0
            self._draw(force=True)

    def file_finished(self, cache_key: str, file: str) -> None:
        transfer = self._active.pop((cache_key, file), None)
        self._clear()
        size = human_size(transfer.done) if transfer else ""
        self._stream.write(f"  fetched {cache_key}/{file} {size}".rstrip() + "\n")
        self._draw(force=True)

    def close(self) -> None:
        """Erase the status line (call when the command ends, successfully or not)."""
        self._clear()
        self._active.clear()

    def _columns(self) -> int:
        return self._width or shutil.get_terminal_size((80, 24)).columns

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < self._interval:
            return
        self._last_draw = now
        if not self._active:
            return
        parts = [_describe(file, t) for (_, file), t in self._active.items()]
        line = " | ".join(parts)[: self._columns() - 1]
        self._stream.write(f"\r\x1b[K{line}")
        self._stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._drawn = False


def _describe(file: str, t: _Transfer) -> str:
    if not t.total:
        return f"{file} {human_size(t.done)}"
    fraction = min(t.done / t.total, 1.0)
    filled = int(fraction * _BAR)
    bar = "#" * filled + "-" * (_BAR - filled)
    return f"{file} [{bar}] {fraction:4.0%} {human_size(t.done)}/{human_size(t.total)}"
