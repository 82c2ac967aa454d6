"""Cache-only acquisition on real files: hits need every file; misses say how to fix them."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from support.sandbox import run_read_only
from support.seeding import seed, seed_snapshot
from tokenizer_acquisition import (
    CacheOnlyAcquisition,
    IntegrityError,
    SmartTokenizerDownload,
    TokenizerDownloadInfo,
    TokenizerNotFound,
    VocabMismatch,
)
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache

pytestmark = pytest.mark.cache_only

MINILM_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def minilm(**changes: object) -> TokenizerDownloadInfo:
    fields: dict[str, object] = {"repo": "sentence-transformers/all-MiniLM-L6-v2",
                                 "cache_key": "minilm", "files": MINILM_FILES}
    fields.update(changes)
    return TokenizerDownloadInfo(**fields)  # type: ignore[arg-type]


async def test_miss_then_place_tokenizer_json_then_hit(cache_dir: Path, minilm_dir: Path) -> None:
    """The original design's test: a miss, a file placed by hand, then a hit at that path."""
    strategy = CacheOnlyAcquisition(cache_dir)
    info = minilm(files=("tokenizer.json",))
    with pytest.raises(TokenizerNotFound) as err:
        await strategy.acquire_tokenizer(info)
    assert err.value.missing_files == ("tokenizer.json",)
    assert err.value.directory == cache_dir / "minilm"
    seed(cache_dir, "minilm", minilm_dir, ("tokenizer.json",))
    assert await strategy.acquire_tokenizer(info) == cache_dir / "minilm" / "tokenizer.json"


async def test_a_partial_set_is_a_miss_naming_only_what_is_missing(
        cache_dir: Path, minilm_dir: Path) -> None:
    """Some files present is a miss; the error lists exactly the missing ones."""
    seed(cache_dir, "minilm", minilm_dir, ("tokenizer.json", "vocab.txt"))
    with pytest.raises(TokenizerNotFound) as err:
        await CacheOnlyAcquisition(cache_dir).acquire(minilm())
    assert err.value.missing_files == ("tokenizer_config.json", "special_tokens_map.json")


async def test_hit_returns_every_file_and_the_primary(cache_dir: Path, minilm_dir: Path) -> None:
    """The result maps each requested file and names tokenizer.json as primary."""
    seed(cache_dir, "minilm", minilm_dir, MINILM_FILES)
    result = await CacheOnlyAcquisition(cache_dir).acquire(minilm(expected_vocab=30522))
    assert result.path == cache_dir / "minilm" / "tokenizer.json"
    assert set(result.files) == set(MINILM_FILES)
    assert result.from_cache and result.strategy == "cache-only"
    assert result.bytes_downloaded == 0


async def test_sentencepiece_primary_and_vocab(cache_dir: Path, botchan_dir: Path) -> None:
    """tokenizer.model is primary when no tokenizer.json is requested; 1000 pieces."""
    seed(cache_dir, "botchan", botchan_dir, ("tokenizer.model",))
    info = TokenizerDownloadInfo("google/botchan", "botchan", ("tokenizer.model",),
                                 expected_vocab=1000)
    assert (await CacheOnlyAcquisition(cache_dir).acquire_tokenizer(info)).name == "tokenizer.model"
    with pytest.raises(VocabMismatch) as err:
        await CacheOnlyAcquisition(cache_dir).acquire(
            TokenizerDownloadInfo("google/botchan", "botchan", ("tokenizer.model",),
                                  expected_vocab=32000))
    assert (err.value.expected, err.value.actual) == (32000, 1000)


async def test_vocab_is_checked_on_every_acquisition(cache_dir: Path, minilm_dir: Path) -> None:
    """A file replaced after a successful check is checked again."""
    seed(cache_dir, "minilm", minilm_dir, ("tokenizer.json",))
    strategy = CacheOnlyAcquisition(cache_dir)
    info = minilm(files=("tokenizer.json",), expected_vocab=30522)
    await strategy.acquire(info)
    (cache_dir / "minilm" / "tokenizer.json").write_text('{"model": {"vocab": {"a": 0}}}')
    with pytest.raises(VocabMismatch):
        await strategy.acquire(info)
    (cache_dir / "minilm" / "tokenizer.json").write_text("not json at all")
    with pytest.raises(IntegrityError):
        await strategy.acquire(info)


async def test_manifest_size_mismatch_is_not_a_hit(cache_dir: Path, minilm_dir: Path) -> None:
    """A file truncated after publication is not served."""
    seed_snapshot(cache_dir, "minilm", minilm_dir, ("vocab.txt",))
    size = (minilm_dir / "vocab.txt").stat().st_size
    info = minilm(files=("vocab.txt",))
    assert (await CacheOnlyAcquisition(cache_dir).acquire(info)).from_cache
    with (cache_dir / "minilm" / "vocab.txt").open("r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(TokenizerNotFound) as err:
        await CacheOnlyAcquisition(cache_dir).acquire(info)
    assert err.value.stale_files == ("vocab.txt",)
    assert any("vocab.txt present but not verified" in s for s in err.value.suggestions)


async def test_bookkeeping_never_counts_as_a_tokenizer(cache_dir: Path, minilm_dir: Path
                                                       ) -> None:
    """Manifests, blobs, snapshots and partials live under .tokacq and are never found by
    a lookup: a snapshot never linked to its key (a run killed before the swap) is a miss."""
    seed_snapshot(cache_dir, "minilm", minilm_dir, ("tokenizer.json",))
    (cache_dir / "minilm").unlink()  # the key's link, as if the swap never happened
    partials = FileSystemCache(cache_dir).partials("minilm")
    partials.mkdir(parents=True, exist_ok=True)
    (partials / "tokenizer.json.tag.host@1@0.tokacq-partial").write_bytes(b"{}")
    [manifest] = (cache_dir / ".tokacq" / "snapshots" / "minilm").glob("*.json")
    assert json.loads(manifest.read_text())["files"]["tokenizer.json"]
    assert not (cache_dir / "minilm").exists()
    with pytest.raises(TokenizerNotFound) as err:
        await CacheOnlyAcquisition(cache_dir).acquire(minilm(files=("tokenizer.json",)))
    assert err.value.missing_files == ("tokenizer.json",)


async def test_symlink_escaping_the_cache_is_not_served(cache_dir: Path, tmp_path: Path) -> None:
    """A link placed in the cache that points outside it is treated as missing."""
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (cache_dir / "minilm").mkdir()
    os.symlink(outside, cache_dir / "minilm" / "tokenizer.json")
    with pytest.raises(TokenizerNotFound):
        await CacheOnlyAcquisition(cache_dir).acquire(minilm(files=("tokenizer.json",)))


def test_read_only_cache_serves_hits(cache_dir: Path, minilm_dir: Path) -> None:
    """A cache baked read-only into an image (a real read-only mount) still serves hits."""
    seed(cache_dir, "minilm", minilm_dir, MINILM_FILES)
    code = (
        "from tokenizer_acquisition import SmartTokenizerDownload, TokenizerDownloadInfo\n"
        f"info = TokenizerDownloadInfo({minilm().repo!r}, 'minilm', {MINILM_FILES!r}, "
        "expected_vocab=30522)\n"
        f"print(SmartTokenizerDownload.cache_only({str(cache_dir)!r}).download_tokenizer_sync(info))"
    )
    done = run_read_only([cache_dir], [sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("minilm/tokenizer.json")


async def test_hits_write_nothing(cache_dir: Path, minilm_dir: Path) -> None:
    """A cache hit leaves the cache tree exactly as it was (no locks, no manifests)."""
    seed(cache_dir, "minilm", minilm_dir, MINILM_FILES)
    before = sorted((p, p.stat().st_mtime_ns) for p in cache_dir.rglob("*"))
    await CacheOnlyAcquisition(cache_dir).acquire(minilm())
    assert sorted((p, p.stat().st_mtime_ns) for p in cache_dir.rglob("*")) == before


def test_facade_sync_download_from_the_cache(cache_dir: Path, minilm_dir: Path) -> None:
    """SmartTokenizerDownload.cache_only serves a seeded cache synchronously."""
    seed(cache_dir, "minilm", minilm_dir, MINILM_FILES)
    downloader = SmartTokenizerDownload.cache_only(cache_dir)
    assert downloader.download_tokenizer_sync(minilm()) == cache_dir / "minilm" / "tokenizer.json"
    info = downloader.acquisition_info()
    assert info.available and info.strategies[0].name == "cache-only"
