"""Progress bars in a real terminal (a pty with a window size), read back as a screen.

Two files download at once, one of them continuing a partial an earlier run left; at 50
and 80 columns. A small VT100 subset (CR, LF, cursor up, erase line) replays what tokacq
wrote, so the assertions are about what a person would see, not about bytes.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.conftest import clean_env
from support.network import blob
from tokenizer_acquisition.testing import (
    HubSimulator,
    ResetAfter,
    SlowDrip,
    Status,
    ThreadedHubSimulator,
)

pytest.importorskip("aiohttp")
pytest.importorskip("tqdm")

REPO = "org/big"
KEY = "big"
SIZE = 1_500_000
FILES = ("part-a.bin", "part-b.bin")
_ESCAPE = re.compile(r"\x1b\[(\d*)([A-Za-z])")


def screen(raw: str, cols: int) -> list[str]:
    """The rows a terminal of ``cols`` columns shows after ``raw`` (no scrollback)."""
    rows: list[list[str]] = [[]]
    r = c = 0
    i = 0
    while i < len(raw):
        ch = raw[i]
        match = _ESCAPE.match(raw, i)
        if match:
            n, op = int(match.group(1) or 1), match.group(2)
            if op == "A":
                r = max(0, r - n)
            elif op == "K":
                del rows[r][c:]
            i = match.end()
            continue
        if ch == "\r":
            c = 0
        elif ch == "\n":
            r += 1
            c = 0
        else:
            if c >= cols:  # autowrap
                r, c = r + 1, 0
            while len(rows) <= r:
                rows.append([])
            row = rows[r]
            row.extend(" " * (c + 1 - len(row)))
            row[c] = ch
            c += 1
        while len(rows) <= r:
            rows.append([])
        i += 1
    return ["".join(row).rstrip() for row in rows]


def _spawn(args: list[str], env: dict[str, str], cols: int) -> tuple[subprocess.Popen[bytes], int]:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    proc = subprocess.Popen(args, stdin=follower, stdout=follower, stderr=follower, env=env,
                            start_new_session=True)
    os.close(follower)
    return proc, leader


def _read(leader: int, proc: subprocess.Popen[bytes], *, deadline: float,
          until: str | None = None) -> str:
    out = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if until is not None and until in out.decode(errors="replace"):
                break
        elif proc.poll() is not None and until is None:
            # drain what is left, then stop
            ready, _, _ = select.select([leader], [], [], 0.2)
            if not ready:
                break
    return out.decode(errors="replace")


def _env(tmp: Path, endpoint: str, cols: int) -> dict[str, str]:
    env = clean_env(tmp)
    env.update(TOKACQ_ENDPOINT=endpoint, TERM="xterm", COLUMNS=str(cols), LINES="24",
               NO_PROXY="*")
    env.pop("TOKACQ_NO_PROGRESS", None)
    return env


def _command(*extra: str, files: tuple[str, ...] = FILES) -> list[str]:
    return [sys.executable, "-m", "tokenizer_acquisition", "fetch", REPO,
            "--cache-key", KEY, *[a for f in files for a in ("-f", f)], *extra]


@pytest.fixture
def hub() -> Iterator[HubSimulator]:
    sim = HubSimulator()
    sim.add_repo(REPO, {FILES[0]: blob(SIZE, 1), FILES[1]: blob(SIZE, 2)})
    with ThreadedHubSimulator(sim) as running:
        yield running


@pytest.mark.parametrize("cols", [50, 80])
def test_two_files_and_a_resumed_one_on_a_real_terminal(hub: HubSimulator, tmp_path: Path,
                                                         cols: int) -> None:
    """Own line per file, nothing wider than the terminal, real sizes, no bar left."""
    env = _env(tmp_path, hub.endpoint, cols)
    config = tmp_path / "fail-fast.toml"
    config.write_text("[network]\nmax_retries = 1\n")
    # An earlier run dies after part of part-b: its partial stays for the next run.
    hub.inject(ResetAfter(600_000), path=FILES[1])
    hub.inject(Status(503), path=FILES[1], times=10)
    first = subprocess.run(_command("--config", str(config), "-q", files=FILES[1:]), env=env,
                           capture_output=True, timeout=60)
    assert first.returncode != 0
    hub.clear_faults()
    for file in FILES:
        hub.inject(SlowDrip(chunk_size=100_000, delay_s=0.05), path=file, times=1)
    hub.clear()
    proc, leader = _spawn(_command(), env, cols)
    try:
        raw = _read(leader, proc, deadline=time.monotonic() + 60)
        assert proc.wait(timeout=30) == 0, raw
    finally:
        os.close(leader)
    resumed = [r.range for r in hub.file_gets(FILES[1]) if r.range]
    assert resumed, "part-b was not resumed"
    for segment in re.split(r"[\r\n]", _ESCAPE.sub("", raw)):
        if "B/s" in segment or "fetched" in segment:  # bars and notes; stdout is data
            assert len(segment) <= cols, segment
    drawn = screen(raw, cols)
    segments = re.split(r"[\r\n]", _ESCAPE.sub("", raw))
    for file in FILES:  # each file had a line of its own (its name starts a line)
        assert any(line.startswith(f"{file}:") for line in segments), (file, raw)
    assert f"  fetched {KEY}/{FILES[1]} 1.5 MB" in drawn
    assert f"  fetched {KEY}/{FILES[0]} 1.5 MB" in drawn
    assert not any("%|" in line for line in drawn), drawn


@pytest.mark.parametrize("cols", [50, 80])
def test_ctrl_c_leaves_no_bar_on_screen(hub: HubSimulator, tmp_path: Path, cols: int) -> None:
    """SIGINT mid-download: exit 130, and the screen holds no progress bar afterwards."""
    for file in FILES:
        hub.inject(SlowDrip(chunk_size=20_000, delay_s=0.05), path=file, times=5)
    proc, leader = _spawn(_command(), _env(tmp_path, hub.endpoint, cols), cols)
    try:
        raw = _read(leader, proc, deadline=time.monotonic() + 30, until="%|")
        assert "%|" in raw, raw
        os.killpg(proc.pid, signal.SIGINT)
        raw += _read(leader, proc, deadline=time.monotonic() + 30)
        assert proc.wait(timeout=30) == 130, raw
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    drawn = screen(raw, cols)
    assert not any("%|" in line for line in drawn), drawn
