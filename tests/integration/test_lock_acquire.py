"""The library takes lock files too: acquire_locked fetches the locked commit, pinned."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.network import FAST, options
from tokenizer_acquisition import SmartTokenizerDownload
from tokenizer_acquisition.domain.errors import (
    AllStrategiesFailed,
    ConfigurationError,
    IntegrityError,
)
from tokenizer_acquisition.domain.lockfile import LockEntry, LockFile
from tokenizer_acquisition.strategies import (
    CacheOnlyAcquisition,
    HybridAcquisition,
    NetworkAcquisition,
)
from tokenizer_acquisition.testing import HubSimulator

pytestmark = pytest.mark.timeout(30)
REPO = "org/locked"


def downloader(sim: HubSimulator, cache: Path) -> SmartTokenizerDownload:
    network = NetworkAcquisition(cache, options=options(sim), backoff=FAST)
    return SmartTokenizerDownload(HybridAcquisition([CacheOnlyAcquisition(cache), network]))


def lock_for(commit: str, data: bytes) -> LockFile:
    import hashlib

    return LockFile((LockEntry(REPO, "main", commit, "vocab.txt", len(data),
                               hashlib.sha256(data).hexdigest()),))


async def test_acquire_locked_gets_the_locked_commit_after_main_moved(tmp_path: Path) -> None:
    """main moved on; the lock still yields the old commit's bytes, then a cache hit."""
    async with HubSimulator() as sim:
        old = sim.add_repo(REPO, {"vocab.txt": b"a\nb\n"})
        sim.replace_file(REPO, "vocab.txt", b"a\nb\nc\n")
        async with downloader(sim, tmp_path) as d:
            (result,) = await d.acquire_locked(lock_for(old, b"a\nb\n"))
            assert result.commit == old and result.path.read_bytes() == b"a\nb\n"
            seen = len(sim.requests)
            (again,) = await d.acquire_locked(lock_for(old, b"a\nb\n"))
            assert again.from_cache and len(sim.requests) == seen


async def test_acquire_locked_reads_a_path_and_rejects_wrong_hashes(tmp_path: Path) -> None:
    """A lock file path works; bytes that do not match the locked sha256 are refused."""
    async with HubSimulator() as sim:
        commit = sim.add_repo(REPO, {"vocab.txt": b"a\nb\n"})
        path = tmp_path / "tokenizers.lock"
        path.write_text(lock_for(commit, b"tampered").to_toml())
        async with downloader(sim, tmp_path / "cache") as d:
            with pytest.raises(IntegrityError) as err:
                await d.acquire_locked(path)
            assert isinstance(err.value.__cause__, AllStrategiesFailed)
            with pytest.raises(ConfigurationError):
                await d.acquire_locked(tmp_path / "missing.lock")


@pytest.mark.parametrize("configured", [False, True])
async def test_the_library_makes_the_lock_file_it_then_acquires(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, configured: bool) -> None:
    """lock(infos) pins each fetched file (commit, size, sha256), from the cache's manifest
    when the facade knows its cache, by hashing otherwise; the lock then acquires."""
    import hashlib

    from tokenizer_acquisition import TokenizerDownloadInfo

    for variable in ("HF_TOKEN", "TOKACQ_TOKEN", "TOKACQ_CONFIG", "HF_HUB_OFFLINE",
                     "TOKACQ_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKACQ_STRATEGY"):
        monkeypatch.delenv(variable, raising=False)
    info = TokenizerDownloadInfo(REPO, "org--locked", ("vocab.txt",))
    async with HubSimulator() as sim:
        commit = sim.add_repo(REPO, {"vocab.txt": b"a\nb\n"})
        built = (SmartTokenizerDownload.with_downloads(tmp_path / "cache", endpoint=sim.endpoint)
                 if configured else downloader(sim, tmp_path / "cache"))
        async with built as d:
            lock = await d.lock([info])
            assert lock == lock_for(commit, b"a\nb\n")
            assert lock.entries[0].sha256 == hashlib.sha256(b"a\nb\n").hexdigest()
            seen = len(sim.requests)
            (again,) = await d.acquire_locked(LockFile.parse(lock.to_toml(), "test"))
            assert again.from_cache and again.commit == commit and len(sim.requests) == seen
