"""A directory of tokenizers laid out by repo, read as a ``TokenizerSource``.

Layout (a model checkout, or an air-gapped bundle copied onto the machine)::

    <root>/<org>/<name>/<file>      for repos with an owner
    <root>/<name>/<file>            for repos without one

Read-only: nothing is written, locked or created. The directory records no revision, so
what it holds is served for any revision; a ``sha256`` pin is checked by hashing the file
(tokenizer files are small), which is what keeps a lock file honest here. A link is followed
only when its target stays inside the root.
"""

from __future__ import annotations

from pathlib import Path

from ..domain.cache_policy import FileFacts, Located
from ..domain.manifest import ManifestEntry
from ..domain.request import TokenizerDownloadInfo
from ..ports.source import TokenizerSource
from .read_only_disk import DigestMemo, file_names, real_directory, resolve_regular_file


class LocalDirSource(TokenizerSource):
    """Files under ``<root>/<org>/<name>/`` for a request's repo."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser()
        self._digests = DigestMemo()

    @property
    def description(self) -> str:
        return f"the local directory {self.root}"

    def exists(self) -> bool:
        return self.root.is_dir()

    def directory(self, repo: str) -> Path:
        # Repo ids are validated (no '..', no empty segments), so this stays under root.
        return self.root.joinpath(*repo.split("/"))

    def locate(self, info: TokenizerDownloadInfo) -> Located:
        directory = self.directory(info.repo)
        root = real_directory(self.root)
        found: dict[str, FileFacts] = {}
        manifest: dict[str, ManifestEntry] = {}
        for name in info.files:
            resolved = resolve_regular_file(directory.joinpath(*name.split("/")))
            if resolved is None or not resolved[1].is_relative_to(root):
                continue
            facts, real = resolved
            found[name] = facts
            if info.sha256 and name in info.sha256:
                # Without an entry a pin can never be satisfied; with one, the digest decides.
                manifest[name] = ManifestEntry(size=facts.size, sha256=self._digests.sha256(real),
                                               repo=info.repo, source=str(directory))
        return Located(directory=directory, found=found, manifest=manifest)

    def present_files(self, info: TokenizerDownloadInfo) -> tuple[str, ...] | None:
        directory = self.directory(info.repo)
        return file_names(directory) if directory.is_dir() else None

    def read_bytes(self, located: Located, file: str) -> bytes:
        return located.found[file].path.read_bytes()
