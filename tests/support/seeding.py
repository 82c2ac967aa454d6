"""Filling a cache without the network: by hand (an operator's air-gapped copy), or as
a managed snapshot exactly as a finished download publishes it."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
from tokenizer_acquisition.domain.manifest import ManifestEntry, Snapshot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MINILM = FIXTURES / "sentence-transformers" / "all-MiniLM-L6-v2"
BOTCHAN = FIXTURES / "sentencepiece" / "botchan-unigram-1000"

#: The commit ``seed_snapshot`` records unless told otherwise.
SEED_COMMIT = "5eed" * 10


def seed(cache_root: Path, cache_key: str, source: Path, files: tuple[str, ...]) -> Path:
    """Copy ``files`` from ``source`` into a real directory ``<cache_root>/<cache_key>/``:
    files placed by hand (unmanaged), which cache-only serves but a download never replaces."""
    target = cache_root / cache_key
    target.mkdir(parents=True, exist_ok=True)
    for name in files:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target / name)
    return target


def seed_snapshot(cache_root: Path, cache_key: str, source: Path, files: tuple[str, ...], *,
                  repo: str = "sentence-transformers/all-MiniLM-L6-v2",
                  revision: str = "main", commit: str | None = SEED_COMMIT) -> Path:
    """Publish ``files`` from ``source`` as the key's managed snapshot, through the cache's
    own write port (``store_blob`` then one ``publish``), as a finished download leaves it.

    Returns the snapshot directory (``<cache_root>/<cache_key>`` links to it).
    """
    cache = FileSystemCache(cache_root)
    cache.ensure_writable()
    entries = {}
    for name in files:
        data = (source / name).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        staged = cache.staging_path(cache_key, name, "seed")
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_bytes(data)
        cache.store_blob(staged, digest)
        entries[name] = ManifestEntry(size=len(data), sha256=digest, commit=commit,
                                      revision=revision, repo=repo,
                                      source=f"seeded from {source / name}",
                                      fetched_at=time.time())
    snapshot = Snapshot(cache_key=cache_key, repo=repo, revision=revision, commit=commit,
                        files=entries, created_at=time.time())
    return cache.publish(snapshot).directory


def current_snapshot(cache_root: Path, cache_key: str) -> Path:
    """The snapshot directory the key's link names, spelled under ``cache_root`` as given
    (results name it so: ``result.path == current_snapshot(...) / primary``)."""
    return cache_root / os.readlink(cache_root / cache_key)
