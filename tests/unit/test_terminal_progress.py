"""Progress bars: drawn from the observer's file hooks, erased when done."""

from __future__ import annotations

import io

from tokenizer_acquisition.adapters.terminal_progress import ProgressBarObserver, human_size


def test_bar_shows_file_percentage_and_sizes() -> None:
    """A started file with a known size gets a bar, a percentage and sizes."""
    out = io.StringIO()
    bars = ProgressBarObserver(out, interval=0.0, width=200)
    bars.file_started("k", "tokenizer.json", 2000)
    bars.file_advanced("k", "tokenizer.json", 1000)
    text = out.getvalue()
    assert "tokenizer.json [##########----------]  50% 1.0 kB/2.0 kB" in text
    assert text.startswith("\r\x1b[K")


def test_finished_file_gets_a_permanent_line_and_close_erases() -> None:
    """A finished file is printed on its own line; close() clears the status line."""
    out = io.StringIO()
    bars = ProgressBarObserver(out, interval=0.0, width=200)
    bars.file_started("k", "vocab.txt", None)
    bars.file_started("k", "tokenizer.json", None)
    bars.file_advanced("k", "vocab.txt", 1500)
    bars.file_finished("k", "vocab.txt")
    assert "  fetched k/vocab.txt 1.5 kB\n" in out.getvalue()
    before_close = out.getvalue()
    assert before_close.endswith("tokenizer.json 0 B"), "the file still in flight is shown"
    bars.close()
    assert out.getvalue() == before_close + "\r\x1b[K"


def test_redraws_are_throttled() -> None:
    """Many small chunks do not redraw the line more than once per interval."""
    out = io.StringIO()
    bars = ProgressBarObserver(out, interval=60.0)
    bars.file_started("k", "f", 10_000)
    for _ in range(100):
        bars.file_advanced("k", "f", 10)
    assert out.getvalue().count("\r\x1b[K") == 1


def test_human_size() -> None:
    """Bytes under 1000 stay integers; larger sizes use decimal units."""
    assert human_size(999) == "999 B"
    assert human_size(1_500_000) == "1.5 MB"


def test_a_restart_from_zero_resets_the_count() -> None:
    """After a server ignored Range, the finished line shows the file's size, not the sum
    of both attempts (issue 10: 766.2 kB for a 466 kB file)."""
    out = io.StringIO()
    bars = ProgressBarObserver(out, interval=0.0, width=200)
    bars.file_started("k", "tokenizer.json", 466_000)
    bars.file_advanced("k", "tokenizer.json", 300_200)
    bars.file_restarted("k", "tokenizer.json")
    bars.file_advanced("k", "tokenizer.json", 466_000)
    bars.file_finished("k", "tokenizer.json")
    assert "  fetched k/tokenizer.json 466.0 kB\n" in out.getvalue()
