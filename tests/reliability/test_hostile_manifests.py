"""Issue 10: random manifests (any JSON, any nesting, any types, truncated or random bytes)
fed to every reader: a cache-only acquisition, ``cache list``, ``cache verify`` and
``cache prune`` (dry run and real). Only typed errors (``AcquisitionError``) or success."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tokenizer_acquisition import AcquisitionError, CacheOnlyAcquisition, TokenizerDownloadInfo
from tokenizer_acquisition.adapters.cache_inventory import CacheInventory
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
from tokenizer_acquisition.domain.manifest import ManifestEntry, Snapshot

KEY = "k"
FILES = ("tokenizer.json", "tokenizer_config.json")
DATA = {"tokenizer.json": b'{"model": {}}', "tokenizer_config.json": b"{}"}

pytestmark = pytest.mark.timeout(600)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)


def _publish(root: Path) -> bytes:
    """A cache holding one published set; returns its manifest's bytes."""
    cache = FileSystemCache(root)
    cache.ensure_writable()
    entries = {}
    for name, data in DATA.items():
        staged = cache.staging_path(KEY, name, "t")
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        cache.store_blob(staged, digest)
        entries[name] = ManifestEntry(size=len(data), sha256=digest, commit="c" * 40,
                                      revision="main", repo="org/name", fetched_at=time.time())
    cache.publish(Snapshot(KEY, "org/name", "main", "c" * 40, entries, created_at=time.time()))
    return _manifest(cache).read_bytes()


def _manifest(cache: FileSystemCache) -> Path:
    state = cache.state(KEY)
    return state.directory.with_name(f"{state.sid}.json")


@st.composite
def manifests(draw: st.DrawFn) -> bytes | tuple[str, Any]:
    """Raw bytes, or a mutation of the valid manifest (applied once it is known)."""
    return draw(st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.tuples(st.just("truncate"), st.floats(0, 1)),
        st.tuples(st.just("top"), st.sampled_from(
            ["format", "version", "cache_key", "repo", "revision", "commit", "created_at",
             "files"]), json_values),
        st.tuples(st.just("entry"), st.sampled_from(
            ["size", "sha256", "etag", "commit", "revision", "repo", "source", "fetched_at",
             "stamp"]), json_values),
        st.tuples(st.just("name"), st.text(max_size=30), json_values),
    ))


def _apply(mutation: bytes | tuple[str, Any], good: bytes) -> bytes:
    if isinstance(mutation, bytes):
        return mutation
    doc = json.loads(good)
    kind = mutation[0]
    if kind == "truncate":
        return good[: int(len(good) * mutation[1])]
    if kind == "top":
        doc[mutation[1]] = mutation[2]
    elif kind == "entry":
        doc["files"]["tokenizer.json"][mutation[1]] = mutation[2]
    else:
        doc["files"][mutation[1]] = mutation[2]
    return json.dumps(doc).encode()


def _typed_or_success(action: Any) -> None:
    with contextlib.suppress(AcquisitionError):
        action()


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutation=manifests())
@example(mutation=b"[" * 200_000 + b"]" * 200_000)
@example(mutation=("entry", "fetched_at", "yesterday"))
@example(mutation=("top", "commit", 12345))
@example(mutation=("top", "created_at", 1e300))
@example(mutation=("name", "../../../../etc/passwd", {"size": 1, "sha256": "0" * 64}))
@example(mutation=("name", "a\x00b", {"size": 1, "sha256": "0" * 64}))
def test_every_reader_of_a_hostile_manifest_raises_only_typed_errors(
        mutation: bytes | tuple[str, Any]) -> None:
    """acquire, list, verify, prune (dry run, then real): success or AcquisitionError."""
    workdir = Path(tempfile.mkdtemp(prefix="tokacq-hostile-"))
    try:
        root = workdir / "cache"
        good = _publish(root)
        cache = FileSystemCache(root)
        hostile = _apply(mutation, good)
        _manifest(cache).write_bytes(hostile)
        cache.journal_path(KEY, "t").write_bytes(hostile)  # the set journal is read too
        info = TokenizerDownloadInfo("org/name", KEY, FILES)
        _typed_or_success(lambda: asyncio.run(CacheOnlyAcquisition(root).acquire(info)))
        inventory = CacheInventory(FileSystemCache(root), lock_timeout=5)
        _typed_or_success(inventory.list)
        _typed_or_success(lambda: inventory.describe(KEY))
        _typed_or_success(inventory.verify)
        _typed_or_success(lambda: inventory.prune(KEY, dry_run=True))
        _typed_or_success(lambda: inventory.prune_partials(dry_run=True))
        _typed_or_success(lambda: inventory.prune(KEY))
        _typed_or_success(inventory.prune_partials)
        assert not list(root.rglob("*.tokacq-tmp")) and not list(root.rglob("*.tokacq-set"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
