"""Progress bars on a terminal, drawn with tqdm from the observer's file hooks.

Why tqdm: it measures rate and ETA, fits each line to the terminal's width (also after a
resize), gives concurrent bars their own lines and erases them when closed; the
hand-written line this replaces did none of that (issue 14). It is the library
``huggingface_hub`` draws with too, so the bars look as users expect.

What is drawn, per cache key in flight:

- one line for the set: every file's bytes together, its total (the files whose size is
  announced so far), rate and ETA;
- one line per file downloading, on its own row (two files at once never share a line);
- a permanent ``fetched <key>/<file> <size>`` line once a file is verified. A resumed file
  ends at its real size: the bytes kept from the partial (``file_resumed``) count as done.

``close()`` erases every bar: the CLI calls it on success, failure and Ctrl-C alike, so no
bar is left on the screen. Whether bars are drawn at all is ``progress_wanted``'s call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from ..ports.events import AcquisitionObserver

#: Environment variables that turn the bars off, as huggingface_hub and we name them.
DISABLING_VARIABLES = ("HF_HUB_DISABLE_PROGRESS_BARS", "TOKACQ_NO_PROGRESS")
_FALSE = frozenset({"", "0", "false", "no", "off"})


def progress_wanted(environ: Mapping[str, str], *, is_terminal: bool, quiet: bool) -> bool:
    """Bars only on a terminal that can redraw, unless asked not to.

    Off with ``--quiet``, off a terminal, with ``TERM=dumb`` (no cursor movement), or
    when ``HF_HUB_DISABLE_PROGRESS_BARS`` / ``TOKACQ_NO_PROGRESS`` is set to anything but
    0/false/no/off. (``NO_COLOR`` needs nothing: the bars are never coloured.)
    """
    if quiet or not is_terminal or environ.get("TERM", "") == "dumb":
        return False
    return all(environ.get(v, "").strip().lower() in _FALSE for v in DISABLING_VARIABLES)


def human_size(nbytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError("unreachable")


class _Set:
    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.totals: dict[str, int | None] = {}
        self.done: dict[str, int] = {}


class ProgressBarObserver(AcquisitionObserver):
    """Draws to ``stream`` with tqdm; ``width`` fixes the columns (else the terminal's)."""

    def __init__(self, stream: TextIO, *, interval: float = 0.1, width: int | None = None
                 ) -> None:
        from tqdm import tqdm  # a dependency of the CLI's downloads, loaded when drawing

        self._tqdm = tqdm
        self._stream = stream
        self._interval = interval
        self._width = width
        self._sets: dict[str, _Set] = {}
        self._files: dict[tuple[str, str], Any] = {}

    def _bar(self, desc: str, total: int | None, *, leave: bool = False) -> Any:
        return self._tqdm(
            total=total, desc=desc, file=self._stream, unit="B", unit_scale=True,
            unit_divisor=1000, leave=leave, mininterval=self._interval, miniters=1,
            ncols=self._width, dynamic_ncols=self._width is None, colour=None)

    def _set(self, cache_key: str) -> _Set:
        found = self._sets.get(cache_key)
        if found is None:
            found = self._sets[cache_key] = _Set(self._bar(f"{cache_key} (set)", None))
        return found

    def _refresh_set(self, entry: _Set) -> None:
        known = [t for t in entry.totals.values() if t is not None]
        total = sum(known) if known and len(known) == len(entry.totals) else None
        if total != entry.bar.total:
            entry.bar.total = total
        entry.bar.n = sum(entry.done.values())
        entry.bar.refresh()

    def file_started(self, cache_key: str, file: str, total: int | None) -> None:
        entry = self._set(cache_key)
        entry.totals[file] = total
        entry.done[file] = 0
        old = self._files.pop((cache_key, file), None)
        if old is not None:
            old.close()
        self._files[(cache_key, file)] = self._bar(file, total)
        self._refresh_set(entry)

    def file_resumed(self, cache_key: str, file: str, offset: int) -> None:
        bar = self._files.get((cache_key, file))
        entry = self._sets.get(cache_key)
        if bar is None or entry is None:
            return
        bar.n = offset
        bar.last_print_n = offset
        bar.refresh()
        entry.done[file] = offset
        self._refresh_set(entry)

    def file_advanced(self, cache_key: str, file: str, nbytes: int) -> None:
        bar = self._files.get((cache_key, file))
        if bar is None:
            self.file_started(cache_key, file, None)
            bar = self._files[(cache_key, file)]
        bar.update(nbytes)
        entry = self._sets[cache_key]
        entry.done[file] = entry.done.get(file, 0) + nbytes
        entry.bar.update(nbytes)

    def file_restarted(self, cache_key: str, file: str) -> None:
        bar = self._files.get((cache_key, file))
        entry = self._sets.get(cache_key)
        if bar is None or entry is None:
            return
        bar.reset(total=bar.total)
        entry.done[file] = 0
        self._refresh_set(entry)

    def file_finished(self, cache_key: str, file: str) -> None:
        bar = self._files.pop((cache_key, file), None)
        entry = self._sets.get(cache_key)
        size = None
        if bar is not None:
            # Verified: the file is its announced size, whatever was counted on the way
            # (bytes kept from an earlier run's partial arrive uncounted).
            size = bar.total if bar.total else bar.n
            bar.close()
        if entry is not None:
            entry.done[file] = size or entry.done.get(file, 0)
            self._refresh_set(entry)
        shown = f" {human_size(size)}" if size is not None else ""
        self._tqdm.write(f"  fetched {cache_key}/{file}{shown}", file=self._stream)
        if entry is not None and not any(key == cache_key for key, _ in self._files):
            entry.bar.close()
            del self._sets[cache_key]

    def close(self) -> None:
        """Erase every bar still drawn (call when the command ends, however it ends)."""
        for bar in self._files.values():
            bar.close()
        for entry in self._sets.values():
            entry.bar.close()
        self._files.clear()
        self._sets.clear()
        self._stream.flush()
