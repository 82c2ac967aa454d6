"""The documentation site builds with ``mkdocs build --strict`` (as CI does), into a
temporary directory: nothing is written into the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings_handlers.python")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=170,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    for page in ("configuration", "cli", "api", "errors", "fleets", "testing",
                 "ARCHITECTURE", "strategies", "quickstart", "RELIABILITY"):
        assert (site / page / "index.html").is_file(), page
    cli = (site / "cli" / "index.html").read_text()
    assert "--keep-size" in cli and "tokacq cache prune" in cli
    config = (site / "configuration" / "index.html").read_text()
    assert "HF_HUB_DOWNLOAD_TIMEOUT" in config and "lease_ttl" in config
    assert "SmartTokenizerDownload" in (site / "api" / "index.html").read_text()
