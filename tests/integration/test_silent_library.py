"""A library never prints: a first download with logging unconfigured writes nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support.network import MINILM, REPO
from tokenizer_acquisition.testing import HubSimulator, ThreadedHubSimulator

pytest.importorskip("aiohttp")

SCRIPT = textwrap.dedent("""
    import sys
    from tokenizer_acquisition import SmartTokenizerDownload, TokenizerDownloadInfo
    info = TokenizerDownloadInfo(repo=sys.argv[3], cache_key="minilm",
                                 files=("tokenizer.json", "vocab.txt"))
    path = SmartTokenizerDownload.with_downloads(
        sys.argv[1], endpoint=sys.argv[2]).download_tokenizer_sync(info)
    assert path.is_file(), path
    # a real failure (unknown repo): a warning record, still unprinted
    try:
        SmartTokenizerDownload.with_downloads(
            sys.argv[1], endpoint=sys.argv[2]).download_tokenizer_sync(TokenizerDownloadInfo(
                repo="org/missing", cache_key="missing", files=("tokenizer.json",)))
    except Exception as error:
        assert type(error).__name__ == "RepositoryNotFound", repr(error)
    else:
        raise AssertionError("org/missing was found")
""")


def test_first_download_through_hybrid_prints_nothing(tmp_path: Path) -> None:
    """Hybrid miss then network, no logging configured: stdout and stderr stay empty."""
    sim = HubSimulator()
    sim.add_repo_from_dir(REPO, MINILM)
    with ThreadedHubSimulator(sim) as running:
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(tmp_path / "cache"), running.endpoint, REPO],
            capture_output=True, text=True, timeout=90,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_PROXY": "*",
                 "HF_HUB_CACHE": str(tmp_path / "no-hf-cache")})
        gets = running.file_gets("tokenizer.json")
    assert out.returncode == 0, out.stderr
    assert (out.stdout, out.stderr) == ("", "")
    assert gets, "the network part was not reached"
