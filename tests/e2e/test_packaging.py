"""The built wheel carries the license and the metadata; completion lists the commands."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tokenizer_acquisition.entrypoints.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_wheel_has_license_and_metadata(tmp_path: Path) -> None:
    """SPDX license, License-File, classifiers and LICENSE (Apache-2.0) inside the wheel."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, timeout=280,
                   capture_output=True)
    (wheel,) = tmp_path.glob("tokenizer_acquisition-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
        (license_name,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        license_text = archive.read(license_name).decode()
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    classifiers = metadata.get_all("Classifier")
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert any(c.startswith("Operating System ::") for c in classifiers)
    assert metadata["Keywords"] and metadata["Author"]
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert license_text == (ROOT / "LICENSE").read_text()
    assert "tokenizer_acquisition/py.typed" in names


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_script_names_every_subcommand(
        shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    """tokacq completion bash|zsh is generated from the parser: every command is in it."""
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for command in ("fetch", "lock", "info", "cache", "demo", "completion", "prune", "list",
                    "verify"):
        assert command in script, command
