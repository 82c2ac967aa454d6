"""The bucket's layout and documents (domain code: no botocore, no aiohttp)."""

from __future__ import annotations

import json

import pytest

from tokenizer_acquisition.domain.bucket_layout import (
    MAX_DOCUMENT_BYTES,
    BucketSet,
    Lease,
    S3Options,
    blob_key,
    contradiction,
    lease_expired,
    lease_key,
    parse_ref,
    parse_s3_url,
    ref_key,
    set_key,
)
from tokenizer_acquisition.domain.errors import ConfigurationError
from tokenizer_acquisition.domain.manifest import ManifestEntry, ManifestError

pytestmark = pytest.mark.cache_only

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHA = "ab" * 32


def _set_doc(**changes: object) -> bytes:
    doc: dict[str, object] = {"format": "tokacq-bucket-set", "version": 1, "repo": "org/m",
                              "commit": COMMIT,
                              "files": {"tokenizer.json": {"size": 3, "sha256": SHA,
                                                           "etag": None}}}
    doc.update(changes)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("url", "bucket", "prefix"), [
    ("s3://tokenizers", "tokenizers", ""),
    ("s3://tokenizers/", "tokenizers", ""),
    ("s3://tokenizers/fleet/a/", "tokenizers", "fleet/a"),
    ("S3://my.bucket-1/x", "my.bucket-1", "x"),
])
def test_s3_urls_parse(url: str, bucket: str, prefix: str) -> None:
    assert parse_s3_url(url) == (bucket, prefix)


@pytest.mark.parametrize("url", [
    "tokenizers/fleet", "https://tokenizers/fleet", "s3://", "s3://A/x", "s3://ab/x",
    "s3://a..b/x", "s3://bucket/a//b", "s3://bucket/a/../b", "s3://bucket/./b",
    "s3://bucket/a b", "s3://bucket/a?x=1", "s3://bucket/a#f", "s3://bucket/a\nb",
    "s3://-bucket/x",
])
def test_bad_s3_urls_are_configuration_errors_naming_the_setting(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_s3_url(url, key="s3.url")
    assert "s3.url" in str(caught.value)


def test_keys_and_prefix() -> None:
    options = S3Options(bucket="b", prefix="fleet")
    assert options.location == "s3://b/fleet"
    assert options.key(blob_key(SHA)) == f"fleet/blobs/{SHA}"
    assert S3Options(bucket="b").key("x") == "x"
    assert S3Options(bucket="b").location == "s3://b"
    assert set_key("org/m", COMMIT) == f"sets/org/m/{COMMIT}.json"
    # A revision with '/' (a PR ref) is one key segment.
    assert ref_key("org/m", "refs/pr/1") == "refs/org/m/refs%2Fpr%2F1"
    assert lease_key("org/m", "main") == "leases/org/m/main.json"
    assert lease_key("org/m", "refs/pr/1") == "leases/org/m/refs%2Fpr%2F1.json"


def test_refs() -> None:
    assert parse_ref(COMMIT.encode() + b"\n") == COMMIT
    for bad in (b"", b"main", COMMIT.upper().encode(), b"\xff" * 40, COMMIT.encode() + b"0"):
        assert parse_ref(bad) is None


def test_set_round_trip() -> None:
    entry = ManifestEntry(size=3, sha256=SHA, etag='"e"')
    original = BucketSet("org/m", COMMIT, {"tokenizer.json": entry})
    parsed = BucketSet.from_json(original.to_json())
    assert parsed.repo == "org/m" and parsed.commit == COMMIT
    assert parsed.files["tokenizer.json"].sha256 == SHA
    assert parsed.files["tokenizer.json"].commit == COMMIT


@pytest.mark.parametrize("data", [
    b"", b"not json", b"[]", b"null", b"{}", b'"str"', b"\xff\xfe",
    b"[" * 100_000 + b"]" * 100_000,
    _set_doc(format="other"), _set_doc(version=2), _set_doc(version="1"),
    _set_doc(repo=None), _set_doc(commit="main"), _set_doc(commit=COMMIT.upper()),
    _set_doc(files=[]), _set_doc(files={"t": "x"}), _set_doc(files={"t": {"size": -1}}),
    _set_doc(files={"t": {"size": 1}}),  # no sha256
    _set_doc(files={"t": {"size": 1, "sha256": "zz"}}),
    _set_doc(files={"t": {"size": True, "sha256": SHA}}),
    _set_doc().replace(b'"size": 3', b'"size": NaN'),
    _set_doc().replace(b'"size": 3', b'"size": Infinity'),
    b"{" + b" " * (MAX_DOCUMENT_BYTES + 1) + b"}",
])
def test_hostile_set_manifests_are_manifest_errors(data: bytes) -> None:
    with pytest.raises(ManifestError):
        BucketSet.from_json(data)


@pytest.mark.parametrize("data", [
    b"", b"{}", b"[1]",
    json.dumps({"format": "tokacq-bucket-lease", "version": 1, "holder": 3,
                "taken_at": 1.0}).encode(),
    json.dumps({"format": "tokacq-bucket-lease", "version": 1, "holder": "h",
                "taken_at": True}).encode(),
    json.dumps({"format": "tokacq-bucket-lease", "version": 1, "holder": "h",
                "taken_at": "1"}).encode(),
    b'{"format": "tokacq-bucket-lease", "version": 1, "holder": "h", "taken_at": NaN}',
    b'{"format": "tokacq-bucket-lease", "version": 1, "holder": "h", "taken_at": 1e999}',
    json.dumps({"format": "tokacq-bucket-set", "version": 1, "holder": "h",
                "taken_at": 1}).encode(),
])
def test_hostile_leases_are_manifest_errors(data: bytes) -> None:
    with pytest.raises(ManifestError):
        Lease.from_json(data)


def test_lease_round_trip_and_expiry() -> None:
    lease = Lease.from_json(Lease("host-1-ab", 100.0).to_json())
    assert lease == Lease("host-1-ab", 100.0)
    # The store's clock decides when it said; else the holder's timestamp.
    assert lease_expired(11.0, lease, now=0.0, ttl=10.0)
    assert not lease_expired(9.0, lease, now=10_000.0, ttl=10.0)
    assert lease_expired(None, lease, now=111.0, ttl=10.0)
    assert not lease_expired(None, lease, now=105.0, ttl=10.0)
    assert lease_expired(None, None, now=0.0, ttl=10.0)  # unreadable: as good as expired


def test_a_manifest_contradicting_a_pin_or_the_request_is_named() -> None:
    bucket_set = BucketSet.from_json(_set_doc())
    assert contradiction(bucket_set, "org/m", COMMIT, None) is None
    assert contradiction(bucket_set, "org/m", COMMIT, {"tokenizer.json": SHA.upper()}) is None
    assert contradiction(bucket_set, "org/m", COMMIT, {"vocab.txt": "cd" * 32}) is None
    why = contradiction(bucket_set, "org/m", COMMIT, {"tokenizer.json": "cd" * 32})
    assert why is not None and "tokenizer.json" in why
    assert contradiction(bucket_set, "org/other", COMMIT, None) is not None
    assert contradiction(bucket_set, "org/m", "f" * 40, None) is not None


def test_merging_sets() -> None:
    base = BucketSet("org/m", COMMIT, {"a": ManifestEntry(size=1, sha256=SHA)})
    more = base.merged({"b": ManifestEntry(size=2, sha256="cd" * 32)})
    assert more is not None and set(more.files) == {"a", "b"}
    assert base.merged({"a": ManifestEntry(size=1, sha256="cd" * 32)}) is None
