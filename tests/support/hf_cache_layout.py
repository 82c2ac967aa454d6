"""Lay out a ``huggingface_hub`` cache by hand, the way ``hf_hub_download`` leaves it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path


def git_blob_sha1(data: bytes) -> str:
    """The name the Hub's cache gives a non-LFS blob (its git object id)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def storage(root: Path, repo: str) -> Path:
    return root / "--".join(["models", *repo.split("/")])


def add_snapshot(root: Path, repo: str, commit: str, files: Mapping[str, bytes], *,
                 lfs: Iterable[str] = (), refs: Iterable[str] = ()) -> Path:
    """Blobs, relative snapshot links and refs for one commit; returns the snapshot dir."""
    lfs = set(lfs)
    repo_dir = storage(root, repo)
    snapshot = repo_dir / "snapshots" / commit
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        blob_name = sha256(data) if name in lfs else git_blob_sha1(data)
        blob = repo_dir / "blobs" / blob_name
        blob.write_bytes(data)
        link = snapshot.joinpath(*name.split("/"))
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    snapshot.mkdir(parents=True, exist_ok=True)
    for revision in refs:
        ref = (repo_dir / "refs").joinpath(*revision.split("/"))
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(commit)
    return snapshot


def tree_state(root: Path) -> list[tuple[str, int, int]]:
    """Every entry under ``root`` with its size and mtime: equal before and after = no writes."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            st = os.lstat(os.path.join(dirpath, name))
            out.append((os.path.join(dirpath, name), st.st_size, st.st_mtime_ns))
    return sorted(out)
