"""Progress bars (tqdm): a set line with rate/ETA/total, one line per file, honest sizes."""

from __future__ import annotations

import io

import pytest

from tokenizer_acquisition.adapters.terminal_progress import (
    ProgressBarObserver,
    human_size,
    progress_wanted,
)

pytest.importorskip("tqdm")


def test_the_set_line_shows_total_rate_and_eta() -> None:
    """Two files of one key: the set line sums their totals and shows rate and ETA."""
    out = io.StringIO()
    bars = ProgressBarObserver(out, interval=0.0, width=120)
    bars.file_started("k", "tokenizer.json", 2000)
    bars.file_started("k", "vocab.txt", 3000)
    bars.file_advanced("k", "tokenizer.json", 1000)
    text = out.getvalue()
    assert "k (set)" in text and "1.00k/5.00k" in text
    assert "B/s" in text and "<" in text  # rate and elapsed<remaining
    assert "tokenizer.json" in text and "vocab.txt" in text


def test_a_resumed_file_ends_at_its_real_size() -> None:
    """Bytes kept from a partial count (file_resumed); the finished line shows the size."""
    out = io.StringIO()
    bars = ProgressBarObserver(out, interval=0.0, width=120)
    bars.file_started("k", "model.bin", 90_900_000)
    bars.file_resumed("k", "model.bin", 56_700_000)
    bars.file_advanced("k", "model.bin", 34_200_000)
    bars.file_finished("k", "model.bin")
    assert "fetched k/model.bin 90.9 MB" in out.getvalue()


def test_a_resumed_file_without_the_resume_hook_still_ends_at_its_size() -> None:
    """A transport that reports only the new bytes: the verified file is its total."""
    out = io.StringIO()
    bars = ProgressBarObserver(out, interval=0.0, width=120)
    bars.file_started("k", "model.bin", 90_900_000)
    bars.file_advanced("k", "model.bin", 34_200_000)
    bars.file_finished("k", "model.bin")
    assert "fetched k/model.bin 90.9 MB" in out.getvalue()


def test_a_restart_from_zero_resets_the_count() -> None:
    """After a server ignored Range, the count starts over (issue 10's 766.2 kB)."""
    out = io.StringIO()
    bars = ProgressBarObserver(out, interval=0.0, width=120)
    bars.file_started("k", "t.json", None)
    bars.file_advanced("k", "t.json", 300_200)
    bars.file_restarted("k", "t.json")
    bars.file_advanced("k", "t.json", 466_000)
    bars.file_finished("k", "t.json")
    assert "fetched k/t.json 466.0 kB" in out.getvalue()


def test_no_line_is_wider_than_the_terminal() -> None:
    """At 50 columns every drawn line fits, long names included."""
    out = io.StringIO()
    bars = ProgressBarObserver(out, interval=0.0, width=50)
    bars.file_started("a-rather-long-cache-key", "a-very-long-file-name-tokenizer.json", 10**8)
    bars.file_advanced("a-rather-long-cache-key", "a-very-long-file-name-tokenizer.json", 10**6)
    bars.close()
    for segment in out.getvalue().replace("\n", "\r").split("\r"):
        visible = segment.replace("\x1b[A", "")
        assert len(visible) <= 50, visible


@pytest.mark.parametrize(("env", "tty", "quiet", "wanted"), [
    ({}, True, False, True),
    ({}, False, False, False),
    ({}, True, True, False),
    ({"TERM": "dumb"}, True, False, False),
    ({"HF_HUB_DISABLE_PROGRESS_BARS": "1"}, True, False, False),
    ({"TOKACQ_NO_PROGRESS": "yes"}, True, False, False),
    ({"TOKACQ_NO_PROGRESS": "0"}, True, False, True),
    ({"NO_COLOR": "1"}, True, False, True),
])
def test_when_bars_are_drawn(env: dict[str, str], tty: bool, quiet: bool,
                             wanted: bool) -> None:
    """Terminals only; --quiet, TERM=dumb and the two switches turn them off."""
    assert progress_wanted(env, is_terminal=tty, quiet=quiet) is wanted


def test_human_size() -> None:
    """Bytes under 1000 stay integers; larger sizes use decimal units."""
    assert human_size(999) == "999 B"
    assert human_size(1_500_000) == "1.5 MB"
