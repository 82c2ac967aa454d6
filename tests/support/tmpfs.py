"""A real, small tmpfs for full-disk tests (root only), unmounted afterwards."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def mounted_tmpfs(size: str, *, why_root: str = "") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (e.g. ``"5m"``) on a fresh directory; skip the test, with
    the reason, where that is impossible (not root, no mount permission)."""
    if os.geteuid() != 0:
        pytest.skip(f"mounting a tmpfs needs root{why_root}")
    mountpoint = Path(tempfile.mkdtemp(prefix="tokacq-tmpfs-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                           str(mountpoint)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        mountpoint.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
        mountpoint.rmdir()
