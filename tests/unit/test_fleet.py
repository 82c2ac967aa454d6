"""The ``s3`` strategy's logic (``domain/fleet.py``) on an in-memory bucket and a fake Hub.

Domain code: no botocore, no aiohttp (one adapter test at the end imports botocore).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

import pytest

from support.fake_bucket import COMMIT, FakeHub, MemoryStore, cache_file
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
from tokenizer_acquisition.domain.bucket_layout import (
    BucketSet,
    Lease,
    S3Options,
    blob_key,
    lease_key,
    ref_key,
    set_key,
)
from tokenizer_acquisition.domain.errors import (
    EntryNotFound,
    IntegrityError,
    NetworkError,
    TokenizerNotFound,
)
from tokenizer_acquisition.domain.fleet import BucketStrategy
from tokenizer_acquisition.domain.hybrid import HybridAcquisition
from tokenizer_acquisition.domain.manifest import ManifestEntry
from tokenizer_acquisition.domain.request import TokenizerDownloadInfo

REPO = "org/model"
FILES = {"tokenizer.json": b'{"model": {}}', "vocab.txt": b"[PAD]\n[UNK]\nhello\n"}
SHAS = {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}
LEASE = lease_key(REPO, "main")
SET = set_key(REPO, COMMIT)


def _info(**kwargs: object) -> TokenizerDownloadInfo:
    return TokenizerDownloadInfo(REPO, "k", tuple(FILES), **kwargs)  # type: ignore[arg-type]


def _pod(tmp: Path, store: MemoryStore, name: str = "pod", *, ttl: float = 60.0,
         lock_timeout: float = 10.0, hub: bool = True, **hub_kwargs: object
         ) -> tuple[BucketStrategy, FakeHub]:
    cache = FileSystemCache(tmp / name)
    fake = FakeHub(cache, FILES, **hub_kwargs)  # type: ignore[arg-type]
    strategy = BucketStrategy(cache, store, S3Options(bucket="fake", prefix="p", lease_ttl=ttl),
                              delegate=fake if hub else None, lock_timeout=lock_timeout)
    return strategy, fake


def _fill(store: MemoryStore, files: dict[str, bytes] = FILES) -> None:
    """A complete set in the bucket, as a leader leaves it."""
    entries = {}
    for name, data in files.items():
        sha = hashlib.sha256(data).hexdigest()
        store.write(blob_key(sha), data)
        entries[name] = ManifestEntry(size=len(data), sha256=sha)
    store.write(SET, BucketSet(REPO, COMMIT, entries).to_json())
    store.write(ref_key(REPO, "main"), COMMIT.encode())


async def test_a_cold_leader_fetches_once_and_leaves_a_complete_set(tmp_path: Path) -> None:
    store = MemoryStore()
    pod, hub = _pod(tmp_path, store)
    result = await pod.acquire(_info())
    assert hub.calls == 1 and result.strategy == "network"
    assert result.files["vocab.txt"].read_bytes() == FILES["vocab.txt"]
    for name, sha in SHAS.items():
        assert store.objects[blob_key(sha)][0] == FILES[name]
    assert set(BucketSet.from_json(store.objects[SET][0]).files) == set(FILES)
    assert store.objects[ref_key(REPO, "main")][0] == COMMIT.encode()
    assert LEASE not in store.objects  # released
    # Blobs first, the manifest (the commit point) after them, the ref last.
    puts = [key for verb, key in store.calls if verb == "PUT"]
    assert puts.index(SET) > max(puts.index(blob_key(s)) for s in SHAS.values())
    assert puts.index(ref_key(REPO, "main")) > puts.index(SET)


async def test_eight_pods_one_hub_download(tmp_path: Path) -> None:
    store = MemoryStore()
    pods = [_pod(tmp_path, store, f"pod{i}", delay=0.2) for i in range(8)]
    results = await asyncio.gather(*(pod.acquire(_info()) for pod, _ in pods))
    assert sum(hub.calls for _, hub in pods) == 1
    assert sorted(r.strategy for r in results) == ["network"] + ["s3"] * 7
    for i in range(8):
        assert cache_file(tmp_path / f"pod{i}", "k", "tokenizer.json") == FILES["tokenizer.json"]


async def test_a_warm_bucket_serves_a_cold_pod_without_the_hub(tmp_path: Path) -> None:
    store = MemoryStore(read_only=True)
    _fill(store)
    pod, hub = _pod(tmp_path, store)
    result = await pod.acquire(_info())
    assert hub.calls == 0 and result.strategy == "s3" and not result.from_cache
    assert store.writes() == []  # a read-only hit attempts no write at all
    again = await pod.acquire(_info())
    assert again.from_cache and store.writes() == []


async def test_a_tampered_blob_is_an_integrity_error_and_stays_as_it_is(tmp_path: Path) -> None:
    store = MemoryStore()
    _fill(store)
    store.write(blob_key(SHAS["vocab.txt"]), b"not the vocab")
    pod, _hub = _pod(tmp_path, store, hub=False)
    with pytest.raises(IntegrityError):
        await pod.acquire(_info())
    assert store.objects[blob_key(SHAS["vocab.txt"])][0] == b"not the vocab"
    assert not (tmp_path / "pod" / "k" / "vocab.txt").exists()


async def test_a_manifest_contradicting_a_pin_is_rejected(tmp_path: Path) -> None:
    store = MemoryStore()
    _fill(store)
    pod, hub = _pod(tmp_path, store)
    with pytest.raises(IntegrityError) as caught:
        await pod.acquire(_info(sha256={"vocab.txt": "cd" * 32}))
    assert "bucket manifest" in str(caught.value.check)
    assert hub.calls == 0


async def test_a_cold_bucket_without_a_delegate_is_a_miss(tmp_path: Path) -> None:
    pod, _ = _pod(tmp_path, MemoryStore(), hub=False)
    with pytest.raises(TokenizerNotFound):
        await pod.acquire(_info())


async def test_read_only_credentials_download_and_skip_writes_with_an_event(
        tmp_path: Path) -> None:
    store = MemoryStore(read_only=True)
    pod, hub = _pod(tmp_path, store)
    result = await pod.acquire(_info())
    assert hub.calls == 1 and result.files["tokenizer.json"].exists()
    assert store.objects == {}
    assert store.skipped and "may not write" in store.skipped[0][1]


async def test_an_upload_failure_never_fails_what_the_hub_served(tmp_path: Path) -> None:
    store = MemoryStore()
    store.fail_writes = "blobs/"
    pod, hub = _pod(tmp_path, store)
    result = await pod.acquire(_info())
    assert hub.calls == 1 and result.files["vocab.txt"].read_bytes() == FILES["vocab.txt"]
    assert SET not in store.objects and LEASE not in store.objects
    assert any("upload failed: NetworkError" in reason for _, reason in store.skipped)


async def test_an_expired_lease_is_taken_over_with_if_match(tmp_path: Path) -> None:
    store = MemoryStore()
    store.write(LEASE, Lease("dead-pod", 0.0).to_json())
    store.advance(5.0)
    pod, hub = _pod(tmp_path, store, ttl=1.0)
    result = await pod.acquire(_info())
    assert hub.calls == 1 and result.strategy == "network"
    assert SET in store.objects and LEASE not in store.objects


async def test_a_follower_waits_for_a_live_leader_then_reads_the_bucket(
        tmp_path: Path) -> None:
    store = MemoryStore()
    store.write(LEASE, Lease("live-pod", 0.0).to_json())
    pod, hub = _pod(tmp_path, store, ttl=60.0)

    async def leader_finishes() -> None:
        await asyncio.sleep(0.3)
        _fill(store)
        del store.objects[LEASE]

    result, _ = await asyncio.gather(pod.acquire(_info()), leader_finishes())
    assert hub.calls == 0 and result.strategy == "s3"


async def test_a_follower_that_finds_the_lease_released_looks_at_the_bucket_again(
        tmp_path: Path) -> None:
    """The leader completes the set and drops its lease between a follower's look at the
    bucket and its look at the lease: the follower takes the free lease, but reads the
    bucket before downloading (found by benchmark 8: 2 Hub GETs per file)."""
    store = MemoryStore()
    store.write(LEASE, Lease("live-pod", 0.0).to_json())
    pod, hub = _pod(tmp_path, store)

    def leader_finishes(key: str) -> None:
        if key == LEASE and SET not in store.objects:
            _fill(store)
            del store.objects[LEASE]

    store.before_get = leader_finishes
    result = await pod.acquire(_info())
    assert hub.calls == 0 and result.strategy == "s3"
    assert LEASE not in store.objects


async def test_a_follower_never_uses_a_set_whose_manifest_is_missing(tmp_path: Path) -> None:
    """Blobs without a manifest (a leader died mid-upload) are not a set."""
    store = MemoryStore()
    for name, data in FILES.items():
        store.write(blob_key(SHAS[name]), data)
    store.write(ref_key(REPO, "main"), COMMIT.encode())
    store.write(LEASE, Lease("dying-pod", 0.0).to_json())
    pod, hub = _pod(tmp_path, store, ttl=0.5)
    result = await pod.acquire(_info())
    assert hub.calls == 1 and result.strategy == "network"  # took over after the ttl


# -- renewal ----------------------------------------------------------------------------------

async def test_a_slow_leader_renews_its_lease_and_is_not_taken_over(tmp_path: Path) -> None:
    """Hub download 4x lease_ttl: heartbeats every ttl/3 keep the lease young, so a
    follower waits instead of taking over; one Hub download in all."""
    store = MemoryStore()
    ttl = 0.3
    leader, hub = _pod(tmp_path, store, "leader", ttl=ttl, delay=4 * ttl)
    follower, other = _pod(tmp_path, store, "follower", ttl=ttl)

    async def later() -> object:
        await asyncio.sleep(ttl / 2)
        return await follower.acquire(_info())

    led, followed = await asyncio.gather(leader.acquire(_info()), later())
    assert hub.calls + other.calls == 1
    assert led.strategy == "network" and followed.strategy == "s3"  # type: ignore[attr-defined]
    lease_puts = sum(1 for verb, key in store.calls if (verb, key) == ("PUT", LEASE))
    assert lease_puts >= 1 + 3  # taken, then renewed at least 3 times
    assert LEASE not in store.objects


async def test_a_leader_that_lost_its_lease_never_overwrites_the_other_pods_work(
        tmp_path: Path) -> None:
    """Another pod takes the lease over mid-download and writes the manifest first: the
    slow leader carries on, keeps the other's manifest and lease, deletes nothing of it."""
    store = MemoryStore()
    leader, _hub = _pod(tmp_path, store, "leader", ttl=0.3, delay=0.5)

    async def other_pod() -> tuple[str, str]:
        await asyncio.sleep(0.05)
        lease_etag = store.write(LEASE, Lease("other-pod", 0.0).to_json())  # took over
        _fill(store)
        return lease_etag, store.objects[SET][1]

    result, (lease_etag, set_etag) = await asyncio.gather(leader.acquire(_info()), other_pod())
    assert result.files["tokenizer.json"].read_bytes() == FILES["tokenizer.json"]
    assert store.objects[SET][1] == set_etag  # the other's manifest, untouched
    assert store.objects[LEASE][1] == lease_etag  # the other's lease, not deleted
    assert ("DELETE", LEASE) not in store.calls
    assert any("another pod" in reason for _, reason in store.skipped)


async def test_a_renewal_that_fails_is_retried_and_never_fails_the_download(
        tmp_path: Path) -> None:
    store = MemoryStore()
    store.fail_writes = "leases/"
    leader, _hub = _pod(tmp_path, store, ttl=0.15, delay=0.3)
    # The lease itself cannot be taken: the store is failing. The Hub is not reached
    # through s3 (a NetworkError): a hybrid falls through to network.
    with pytest.raises(NetworkError):
        await leader.acquire(_info())
    store.fail_writes = None
    original = store.put
    calls = 0

    async def flaky(key: str, data: bytes, sha256: str, **kw: object) -> object:
        nonlocal calls
        if key == LEASE:
            calls += 1
            if calls == 2:  # the first renewal
                raise NetworkError("blip", url=key)
        return await original(key, data, sha256, **kw)  # type: ignore[arg-type]

    store.put = flaky  # type: ignore[method-assign,assignment]
    result = await leader.acquire(_info())
    assert result.strategy == "network" and calls >= 3
    assert any("renewal failed: NetworkError" in reason for _, reason in store.skipped)


# -- hybrid ------------------------------------------------------------------------------------

async def test_a_hub_error_through_s3_reaches_the_hub_once_and_is_decisive(
        tmp_path: Path) -> None:
    store = MemoryStore()
    missing = EntryNotFound("no such file", file="vocab.txt", url="http://hub/x", status=404)
    pod, hub = _pod(tmp_path, store, error=missing)
    hybrid = HybridAcquisition([pod, hub])  # the container wires the same instance
    with pytest.raises(EntryNotFound) as caught:
        await hybrid.acquire(_info())
    assert hub.calls == 1
    attempts = caught.value.__cause__.attempts  # type: ignore[union-attr]
    assert [(a.strategy, a.skipped is not None) for a in attempts] == [
        ("s3", False), ("network", True)]
    assert LEASE not in store.objects


async def test_an_unreachable_bucket_falls_through_to_the_network_part(
        tmp_path: Path) -> None:
    class Down(MemoryStore):
        async def get(self, key: str, *, max_bytes: int) -> None:  # type: ignore[override]
            raise NetworkError("cannot reach the S3 endpoint", url=key)

    pod, hub = _pod(tmp_path, Down())
    hybrid = HybridAcquisition([pod, hub])
    result = await hybrid.acquire(_info())
    assert hub.calls == 1 and result.strategy == "network"
    assert [a.strategy for a in result.attempts] == ["s3"]


def test_the_s3_store_reports_a_skipped_write_as_a_debug_event(
        caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("botocore")
    pytest.importorskip("aiohttp")
    from tokenizer_acquisition.adapters.s3_bucket import S3ObjectStore

    store = S3ObjectStore(S3Options(bucket="fake", prefix="p",
                                    endpoint_url="http://127.0.0.1:9"))
    caplog.set_level(logging.DEBUG, logger="tokenizer_acquisition.s3")
    store.skipped_write("blobs/x", "the credentials may not write")
    [record] = [r for r in caplog.records if r.name == "tokenizer_acquisition.s3"]
    assert record.levelno == logging.DEBUG
    assert "s3.write_skipped" in record.getMessage()
