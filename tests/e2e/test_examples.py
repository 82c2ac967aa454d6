"""Every ``examples/*.py`` runs from an installed wheel, away from the source tree.

Once per session: build the wheel (``pip wheel --no-deps --no-build-isolation``, offline),
install it with ``--no-deps`` into a fresh venv whose only other packages are this
environment's (a ``.pth`` naming its site-packages; the editable install's import hook
there is not loaded, so ``tokenizer_acquisition`` can only come from the wheel). Each
example is copied into an empty temporary directory and run there: ``tests/fixtures`` and
``src/`` are out of reach, so examples must use the demo data shipped in the package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
_DROP = ("TOKACQ_", "HF_", "HUGGING_FACE_", "TRANSFORMERS_", "PYTHON")

#: What each example must print (on stdout), in order.
EXPECTED: dict[str, list[str]] = {
    "offline_quickstart.py": [
        "cache-only: serve files already in the cache",
        "1. empty cache -> TokenizerNotFound; suggestion: place tokenizer.json",
        "2. after placing the files -> tokenizer.json in all-MiniLM-L6-v2/ "
        "(vocabulary 30522 checked)",
    ],
    "download_from_local_hub.py": [
        "1. network: ['special_tokens_map.json', 'tokenizer.json', "
        "'tokenizer_config.json', 'vocab.txt']",
        "2. cache-only: from cache=True, 0 bytes downloaded",
    ],
    "container_override.py": [
        "1. served by network after ['cache-only'] missed",
        "2. RevisionNotFound caught as itself (cause: AllStrategiesFailed)",
        "3. the fake saw revisions ['main', 'v0']",
    ],
}


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The python of a venv holding the freshly built wheel."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(work / "dist"), str(ROOT)],
                   check=True, timeout=280, capture_output=True)
    (wheel,) = (work / "dist").glob("tokenizer_acquisition-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120, capture_output=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    "--no-compile", "--target", purelib, str(wheel)],
                   check=True, timeout=120, capture_output=True)
    # The dependencies: this environment's packages, after the wheel's in sys.path.
    Path(purelib, "zz_test_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n")
    yield python


def run_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update(HOME=str(tmp / "home"), XDG_CACHE_HOME=str(tmp / "xdg"),
               HF_HOME=str(tmp / "hf"), NO_PROXY="127.0.0.1,127.0.0.2,localhost")
    return env


def test_every_example_has_expectations() -> None:
    assert {p.name for p in EXAMPLES} == set(EXPECTED)


def test_the_package_comes_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    done = subprocess.run([str(installed), "-c", "import tokenizer_acquisition as t; "
                           "print(t.__file__)"], cwd=tmp_path, env=run_env(tmp_path),
                          capture_output=True, text=True, timeout=60, check=True)
    where = Path(done.stdout.strip())
    assert installed.parent.parent in where.parents and ROOT not in where.parents


@pytest.mark.timeout(120)
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_from_the_wheel(installed: Path, example: Path, tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    shutil.copy(example, cwd / example.name)
    done = subprocess.run([str(installed), example.name], cwd=cwd, env=run_env(tmp_path),
                          capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    for expected, line in zip(EXPECTED[example.name], lines, strict=False):
        assert line.startswith(expected), (expected, done.stdout)
    assert len(lines) == len(EXPECTED[example.name]), done.stdout
    if example.name == "download_from_local_hub.py":  # it turns INFO logging on itself
        assert "log: tokenizer_acquisition" in done.stderr
    else:  # the library alone prints nothing
        assert done.stderr == ""
