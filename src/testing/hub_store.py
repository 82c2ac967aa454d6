"""In-memory repos, revisions and blobs behind the Hub simulator.

Hashes are computed exactly as the Hub does (git blob sha1, LFS sha256 and pointer) so
clients that check ETags against content see what they would see on huggingface.co.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Commit", "Repo", "RepoStore", "StoredFile", "git_blob_sha1", "lfs_pointer"]

_COMMIT_RE = re.compile(r"[0-9a-f]{40}")


def git_blob_sha1(data: bytes) -> str:
    """The git object id of ``data``: what the Hub sends as ETag for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file git stores in place of an LFS file."""
    spec = "version https://git-lfs.github.com/spec/v1"
    return f"{spec}\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class StoredFile:
    """One file of one commit, with every hash a client may be shown."""

    path: str
    data: bytes = field(repr=False)
    lfs: bool
    sha1: str
    sha256: str

    @classmethod
    def build(cls, path: str, data: bytes, lfs: bool) -> StoredFile:
        return cls(path, data, lfs, git_blob_sha1(data), hashlib.sha256(data).hexdigest())

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def pointer(self) -> bytes:
        return lfs_pointer(self.sha256, self.size)

    @property
    def blob_id(self) -> str:
        """The git object id in the tree: the pointer's for LFS files."""
        return git_blob_sha1(self.pointer) if self.lfs else self.sha1


@dataclass(frozen=True)
class Commit:
    sha: str
    files: Mapping[str, StoredFile]
    parent: str | None = None


@dataclass
class Repo:
    repo_id: str
    private: bool
    gated: bool
    lfs_paths: set[str]
    refs: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        """A branch name or a full commit sha, as the Hub accepts them."""
        sha = self.refs.get(revision, revision)
        return self.commits.get(sha)


def _commit_sha(repo_id: str, files: Mapping[str, StoredFile], parent: str | None) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(f"{repo_id}\0{parent or ''}\0".encode())
    for path in sorted(files):
        digest.update(f"{path}\0{files[path].blob_id}\0".encode())
    return digest.hexdigest()


class RepoStore:
    """Thread-safe: tests mutate it while the server thread reads it."""

    def __init__(self, lfs_threshold: int) -> None:
        self._lock = threading.RLock()
        self._lfs_threshold = lfs_threshold
        self._repos: dict[str, Repo] = {}
        self._blobs: dict[str, bytes] = {}
        self._opaque_ids: dict[str, int] = {}

    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        *,
        revision: str,
        commit: str | None,
        lfs: Iterable[str] | None,
        gated: bool,
        private: bool,
    ) -> str:
        if repo_id.count("/") > 1 or not repo_id.strip("/") or repo_id != repo_id.strip("/"):
            raise ValueError(f"repo_id must be 'name' or 'org/name', got {repo_id!r}")
        if commit is not None and not _COMMIT_RE.fullmatch(commit):
            raise ValueError("commit must be 40 lowercase hex characters")
        with self._lock:
            repo = self._repos.get(repo_id)
            if repo is None:
                repo = Repo(repo_id, private, gated, set())
                self._repos[repo_id] = repo
            repo.private, repo.gated = private, gated
            repo.lfs_paths.update(lfs or ())
            stored = {p: self._store(repo, p, data) for p, data in files.items()}
            sha = commit or _commit_sha(repo_id, stored, None)
            repo.commits[sha] = Commit(sha, stored)
            repo.refs[revision] = sha
            return sha

    def replace_file(self, repo_id: str, path: str, data: bytes, revision: str) -> str:
        """Commit a new version of ``path`` (added if absent) on top of ``revision``."""
        with self._lock:
            repo = self._repos[repo_id]
            head = repo.resolve(revision)
            if head is None:
                raise KeyError(f"{repo_id} has no revision {revision!r}")
            files = dict(head.files)
            files[path] = self._store(repo, path, data)
            sha = _commit_sha(repo_id, files, head.sha)
            repo.commits[sha] = Commit(sha, files, head.sha)
            repo.refs[revision] = sha
            return sha

    def _store(self, repo: Repo, path: str, data: bytes) -> StoredFile:
        is_lfs = path in repo.lfs_paths or len(data) > self._lfs_threshold
        stored = StoredFile.build(path, bytes(data), is_lfs)
        self._blobs.setdefault(stored.sha256, stored.data)
        return stored

    def repo(self, repo_id: str) -> Repo | None:
        with self._lock:
            return self._repos.get(repo_id)

    def has_repo(self, repo_id: str) -> bool:
        with self._lock:
            return repo_id in self._repos

    def resolve(self, repo_id: str, revision: str) -> tuple[Repo | None, Commit | None]:
        """The repo and the commit ``revision`` points to now (either may be missing)."""
        with self._lock:
            repo = self._repos.get(repo_id)
            return repo, (repo.resolve(revision) if repo is not None else None)

    def blob(self, sha256: str) -> bytes | None:
        """Content by sha256: what the CDN serves, old versions included."""
        with self._lock:
            return self._blobs.get(sha256)

    def opaque_id(self, sha256: str) -> int:
        """A stable small number per content, for ETags that reveal no hash."""
        with self._lock:
            return self._opaque_ids.setdefault(sha256, len(self._opaque_ids) + 1)


def read_dir(directory: str | Path) -> dict[str, bytes]:
    """Every file under ``directory`` (``.git`` excluded), keyed by posix relative path."""
    root = Path(directory)
    if not root.is_dir():
        raise NotADirectoryError(str(root))
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }
