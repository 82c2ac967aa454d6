"""Run a command where a directory is really read-only, or where only loopback exists.

Both use an unprivileged user namespace (``unshare -r``), so they work as root (where
``chmod`` would not stop writes) and need no real privileges.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest


def _can(flags: str) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", flags, "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


def require_unshare(flags: str = "-rm") -> None:
    if not _can(flags):
        pytest.skip(f"'unshare {flags}' is not permitted on this machine")


def run_read_only(read_only: Sequence[Path], argv: Sequence[str],
                  env: Mapping[str, str] | None = None, timeout: float = 60
                  ) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with each directory in ``read_only`` bind-mounted read-only over itself."""
    require_unshare("-rm")
    mounts = " && ".join(
        f"mount --bind {shlex.quote(str(p))} {shlex.quote(str(p))} && "
        f"mount -o remount,bind,ro {shlex.quote(str(p))}" for p in read_only)
    script = f'{mounts} && exec "$@"'
    return subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", *argv],
                          capture_output=True, text=True, env=dict(env) if env else None,
                          timeout=timeout)


def run_loopback_only(argv: Sequence[str], env: Mapping[str, str] | None = None,
                      timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a network namespace whose only interface is ``lo``."""
    require_unshare("-rn")
    return subprocess.run(["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                           *argv], capture_output=True, text=True,
                          env=dict(env) if env else None, timeout=timeout)
