"""An existing ``huggingface_hub`` cache, read as a ``TokenizerSource``: no network, no writes.

Layout (what ``hf_hub_download`` and ``transformers`` leave behind)::

    <root>/models--{org}--{name}/refs/<revision>              the commit sha, as text
    <root>/models--{org}--{name}/snapshots/<commit>/<file>    a link to ../../blobs/<etag>
    <root>/models--{org}--{name}/blobs/<etag>                 the content

The ETag of an LFS file is its sha256 (64 hex), so a blob name of that shape is a digest
we can check pins against without reading the file; other blobs are named by their git
sha1, and a pin on one of those is checked by hashing the file (tokenizer files are small).

A file is only ever taken from the one snapshot the request's revision resolves to, and a
link is followed only into this repo's ``blobs`` or into this very snapshot: a link into
another snapshot, another repo or out of the cache root counts as absent.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..domain.cache_policy import FileFacts, Located
from ..domain.manifest import ManifestEntry
from ..domain.request import TokenizerDownloadInfo
from ..ports.source import TokenizerSource
from .read_only_disk import DigestMemo, file_names, real_directory, resolve_regular_file

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REF_MAX_BYTES = 1024


def repo_folder(repo: str) -> str:
    """``org/name`` -> ``models--org--name`` (as ``huggingface_hub.repo_folder_name``)."""
    return "--".join(["models", *repo.split("/")])


class HfCacheSource(TokenizerSource):
    """Files a ``huggingface_hub`` cache already holds for a request's revision."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser()
        self._digests = DigestMemo()

    @property
    def description(self) -> str:
        return f"the Hugging Face cache at {self.root}"

    def exists(self) -> bool:
        return self.root.is_dir()

    def storage(self, repo: str) -> Path:
        return self.root / repo_folder(repo)

    def resolve_commit(self, info: TokenizerDownloadInfo) -> str | None:
        """The commit the request's revision names in this cache; None when it can't say.

        A 40-hex revision is its own commit; anything else (``main``, ``v1.0``,
        ``refs/pr/1``) is looked up in ``refs/``, where ``/`` makes subdirectories.
        """
        if info.is_pinned_commit:
            return info.revision
        segments = info.revision.split("/")
        if any(s in ("", ".", "..") for s in segments):
            return None
        ref = (self.storage(info.repo) / "refs").joinpath(*segments)
        try:
            with open(ref, "rb") as handle:
                text = handle.read(_REF_MAX_BYTES).decode("ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        # The ref's content becomes a path segment: only a well-formed sha may.
        return text if _COMMIT.match(text) else None

    def locate(self, info: TokenizerDownloadInfo) -> Located:
        storage = self.storage(info.repo)
        commit = self.resolve_commit(info)
        if commit is None:
            # No snapshot is known for this revision, so none may be offered.
            return Located(directory=storage / "snapshots", found={})
        snapshot = storage / "snapshots" / commit
        blobs = real_directory(storage / "blobs")
        allowed = _Allowed(real_directory(self.root), blobs,
                           real_directory(storage / "snapshots") / commit)
        found: dict[str, FileFacts] = {}
        manifest: dict[str, ManifestEntry] = {}
        for name in info.files:
            resolved = resolve_regular_file(snapshot.joinpath(*name.split("/")))
            if resolved is None or not allowed(resolved[1]):
                continue
            facts, real = resolved
            found[name] = facts
            digest = real.name if real.parent == blobs and _SHA256.match(real.name) else None
            if digest is None and info.sha256 and name in info.sha256:
                digest = self._digests.sha256(real)
            manifest[name] = ManifestEntry(
                size=facts.size, sha256=digest, commit=commit, revision=info.revision,
                repo=info.repo, source=f"huggingface_hub cache {storage}")
        return Located(directory=snapshot, found=found, manifest=manifest, commit=commit)

    def present_files(self, info: TokenizerDownloadInfo) -> tuple[str, ...] | None:
        """The names in the revision's snapshot (each is checked again by ``locate``)."""
        commit = self.resolve_commit(info)
        if commit is None:
            return None
        snapshot = self.storage(info.repo) / "snapshots" / commit
        return file_names(snapshot) if snapshot.is_dir() else None

    def read_bytes(self, located: Located, file: str) -> bytes:
        return located.found[file].path.read_bytes()

    def placement_hint(self, info: TokenizerDownloadInfo, located: Located, files: str) -> str:
        """Without a known commit there is no snapshot directory to name: say how to make one
        (``huggingface_hub`` itself, or a snapshot plus the ref that points at it)."""
        if located.commit is not None:
            return super().placement_hint(info, located, files)
        storage = self.storage(info.repo)
        ref = storage / "refs" / info.revision
        return (f"no snapshot of {info.repo!r} at {info.revision!r} is in {self.root}: fetch it "
                f"with huggingface_hub, or place {files} in {storage / 'snapshots'}/<commit>/ "
                f"and write that 40-hex commit to {ref}")


class _Allowed:
    """Where a snapshot entry may really live: this repo's blobs, or this snapshot itself.

    The snapshot is taken as ``realpath(snapshots)/<commit>``, not the realpath of the
    commit directory, so a snapshot directory linked to another commit's does not count.
    """

    def __init__(self, root: Path, blobs: Path, snapshot: Path) -> None:
        self._root, self._blobs, self._snapshot = root, blobs, snapshot

    def __call__(self, real: Path) -> bool:
        if not real.is_relative_to(self._root):
            return False
        return real.parent == self._blobs or real.is_relative_to(self._snapshot)
