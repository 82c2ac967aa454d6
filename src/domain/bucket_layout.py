"""The shared bucket's layout and documents, as pure functions (issue 12).

::

    <prefix>/blobs/<sha256>                 immutable content, named by its digest
    <prefix>/sets/<repo>/<commit>.json      one set of a repo at a commit: the commit point
    <prefix>/refs/<repo>/<revision>         the commit a branch or tag was last seen at
    <prefix>/leases/<repo>/<revision>.json  who is fetching that set from the Hub now

Blobs are written first (each with ``If-None-Match: *``, never over an existing one),
then the set's manifest (``If-None-Match: *``; a later request for more files of the
same commit replaces it with ``If-Match`` on its ETag by a superset), then the ref. A
reader follows ref -> manifest -> blobs and hashes every blob before using it: the
bucket is not trusted (SeaweedFS does not even check ``x-amz-content-sha256``). So a
manifest never names a blob that was not uploaded before it, and a corrupted or
replaced blob is an ``IntegrityError``, never served.

Documents are strict JSON; parsing any input gives the document or ``ManifestError``.
Nothing in them is a secret: sizes, digests, repo, commit, and a holder id made of
host name, pid and random digits.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .errors import ConfigurationError
from .manifest import ManifestEntry, ManifestError
from .safe_text import has_control

SET_FORMAT = "tokacq-bucket-set"
LEASE_FORMAT = "tokacq-bucket-lease"
VERSION = 1
#: Sets and leases are a few KB; refs are 40 bytes.
MAX_DOCUMENT_BYTES = 4 << 20
DEFAULT_LEASE_TTL = 120.0
ADDRESSING_STYLES = ("auto", "path", "virtual")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class S3Options:
    """Everything ``[s3]`` configures. ``endpoint_url`` None means AWS itself."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str = "auto"
    write_through: bool = True
    lease_ttl: float = DEFAULT_LEASE_TTL

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative


def parse_s3_url(url: str, key: str = "s3.url", source: str | None = None
                 ) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> ``(bucket, prefix)`` (prefix without slashes at its ends)."""
    scheme, sep, rest = url.partition("://")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    problem = None
    if not sep or scheme.lower() != "s3":
        problem = "expected s3://bucket/prefix"
    elif not _BUCKET.match(bucket) or ".." in bucket:
        problem = "the bucket name must be 3-63 lower-case letters, digits, '.' or '-'"
    elif has_control(url) or " " in url or "?" in url or "#" in url or "//" in prefix:
        problem = "no spaces, control characters, '?', '#' or empty segments"
    elif any(part in (".", "..") for part in prefix.split("/")):
        problem = "'.' and '..' are not allowed as prefix segments"
    if problem is not None:
        raise ConfigurationError(f"setting {key!r} = {url!r} is invalid: {problem}",
                                 key=key, value=url, source=source,
                                 suggestions=["e.g. url = \"s3://tokenizers/fleet\""])
    return bucket, prefix


# -- keys --------------------------------------------------------------------------------------

def blob_key(sha256: str) -> str:
    return f"blobs/{sha256}"


def set_key(repo: str, commit: str) -> str:
    return f"sets/{repo}/{commit}.json"


def _segment(revision: str) -> str:
    # A revision may hold '/' (refs/pr/1): one key segment, whatever it holds.
    return quote(revision, safe="")


def ref_key(repo: str, revision: str) -> str:
    return f"refs/{repo}/{_segment(revision)}"


def lease_key(repo: str, revision: str) -> str:
    return f"leases/{repo}/{_segment(revision)}.json"


def parse_ref(data: bytes) -> str | None:
    """The commit a ref object names, or None when it is not one."""
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return text if _COMMIT.fullmatch(text) else None


# -- the set manifest ----------------------------------------------------------------------------

@dataclass(frozen=True)
class BucketSet:
    """One repo at one commit: each file's size and sha256 (and the Hub's ETag)."""

    repo: str
    commit: str
    files: Mapping[str, ManifestEntry] = field(default_factory=dict)

    def to_json(self) -> bytes:
        doc = {"format": SET_FORMAT, "version": VERSION, "repo": self.repo,
               "commit": self.commit,
               "files": {name: {"size": e.size, "sha256": e.sha256, "etag": e.etag}
                         for name, e in sorted(self.files.items())}}
        return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False).encode()

    @classmethod
    def from_json(cls, data: bytes) -> BucketSet:
        doc = _document(data, SET_FORMAT)
        repo, commit = doc.get("repo"), doc.get("commit")
        if not isinstance(repo, str) or not isinstance(commit, str) \
                or not _COMMIT.fullmatch(commit):
            raise ManifestError("repo or commit missing or malformed")
        files = doc.get("files")
        if not isinstance(files, dict):
            raise ManifestError("files is not an object")
        entries: dict[str, ManifestEntry] = {}
        for name, raw in files.items():
            entry = ManifestEntry.from_dict(raw)
            if entry.sha256 is None:
                raise ManifestError(f"{name!r} has no sha256")
            entries[name] = ManifestEntry(size=entry.size, sha256=entry.sha256,
                                          etag=entry.etag, commit=commit, repo=repo)
        return cls(repo=repo, commit=commit, files=entries)

    def merged(self, other: Mapping[str, ManifestEntry]) -> BucketSet | None:
        """This set with ``other``'s files added; None when they contradict (one name, two
        digests: the same commit cannot hold both)."""
        files = dict(self.files)
        for name, entry in other.items():
            known = files.get(name)
            if known is not None and known.sha256 != entry.sha256:
                return None
            files.setdefault(name, entry)
        return BucketSet(self.repo, self.commit, files)


def contradiction(bucket_set: BucketSet, repo: str, commit: str,
                  pins: Mapping[str, str] | None) -> str | None:
    """Why a manifest read for (``repo``, ``commit``) may not be used, or None."""
    if bucket_set.repo != repo or bucket_set.commit != commit:
        return (f"it describes {bucket_set.repo}@{bucket_set.commit}, not "
                f"{repo}@{commit}")
    for name, pin in (pins or {}).items():
        entry = bucket_set.files.get(name)
        if entry is not None and entry.sha256 != pin.lower():
            return f"{name} is recorded with sha256 {entry.sha256}, the pin is {pin.lower()}"
    return None


# -- leases ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Lease:
    """Who fetches a set from the Hub, since when (the holder's clock; the store's clock
    decides expiry)."""

    holder: str
    taken_at: float

    def to_json(self) -> bytes:
        return json.dumps({"format": LEASE_FORMAT, "version": VERSION,
                           "holder": self.holder, "taken_at": self.taken_at}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Lease:
        doc = _document(data, LEASE_FORMAT)
        holder, taken = doc.get("holder"), doc.get("taken_at")
        if not isinstance(holder, str) or not isinstance(taken, int | float) \
                or isinstance(taken, bool) or not math.isfinite(taken):
            raise ManifestError("holder or taken_at missing or malformed")
        return cls(holder, float(taken))


def lease_expired(age_s: float | None, lease: Lease | None, now: float, ttl: float) -> bool:
    """Expired by the store's clock when it told us the object's age; else by the
    holder's own timestamp (a lease that cannot be read is as good as expired)."""
    if lease is None:
        return True
    if age_s is not None:
        return age_s > ttl
    return now - lease.taken_at > ttl


def _document(data: bytes, expected: str) -> dict[str, Any]:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ManifestError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        doc = json.loads(data, parse_constant=_no_constants)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ManifestError(f"not valid JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != expected \
            or doc.get("version") != VERSION:
        raise ManifestError(f"not a {expected} document of version {VERSION}")
    return doc


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number")
