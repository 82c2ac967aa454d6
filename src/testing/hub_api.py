"""JSON bodies of the Hub's ``/api/models`` endpoints, shaped as ``huggingface_hub`` parses them.

``HfApi.model_info``/``repo_info`` read ``id``, ``sha``, ``private``, ``gated`` and
``siblings[].rfilename`` (plus ``size``/``blobId``/``lfs`` with ``?blobs=true``);
``snapshot_download`` lists files through ``/tree/{revision}?recursive=true``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .hub_store import Commit, Repo, StoredFile

__all__ = ["model_info", "tree_listing"]

_EPOCH = "2024-01-01T00:00:00.000Z"


def model_info(repo: Repo, commit: Commit, *, blobs: bool) -> dict[str, Any]:
    siblings = [_sibling(f, blobs) for _, f in sorted(commit.files.items())]
    return {
        "_id": hashlib.sha1(repo.repo_id.encode(), usedforsecurity=False).hexdigest()[:24],
        "id": repo.repo_id,
        "modelId": repo.repo_id,
        "author": repo.repo_id.split("/")[0] if "/" in repo.repo_id else None,
        "sha": commit.sha,
        "lastModified": _EPOCH,
        "private": repo.private,
        "gated": "manual" if repo.gated else False,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
    }


def _sibling(f: StoredFile, blobs: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"rfilename": f.path}
    if blobs:
        entry["size"] = f.size
        entry["blobId"] = f.blob_id
        if f.lfs:
            entry["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": len(f.pointer)}
    return entry


def tree_listing(commit: Commit, prefix: str, *, recursive: bool) -> list[dict[str, Any]] | None:
    """Entries under ``prefix`` (files and folders); None when ``prefix`` is no folder."""
    base = prefix.strip("/")
    entries: dict[str, dict[str, Any]] = {}
    for path, stored in sorted(commit.files.items()):
        if base and not path.startswith(base + "/"):
            continue
        parts = path[len(base) + 1 :].split("/") if base else path.split("/")
        depth = len(parts) if recursive else 1
        for i in range(1, min(depth, len(parts) - 1) + 1):
            folder = "/".join([*([base] if base else []), *parts[:i]])
            entries.setdefault(folder, _folder(folder))
        if recursive or len(parts) == 1:
            entries[path] = _file(stored)
    if base and not entries:
        return None
    return list(entries.values())


def _folder(path: str) -> dict[str, Any]:
    oid = hashlib.sha1(f"tree {path}".encode(), usedforsecurity=False).hexdigest()
    return {"type": "directory", "oid": oid, "size": 0, "path": path}


def _file(f: StoredFile) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "file", "oid": f.blob_id, "size": f.size, "path": f.path}
    if f.lfs:
        entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": len(f.pointer)}
    return entry
