"""Hand-written fakes of the ports: small enough to read, no patching of internals."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from tokenizer_acquisition.domain.cache_policy import FileFacts, Located
from tokenizer_acquisition.domain.errors import AcquisitionError, TokenizerNotFound
from tokenizer_acquisition.domain.manifest import ManifestEntry, Snapshot
from tokenizer_acquisition.domain.primary import primary_file
from tokenizer_acquisition.domain.request import TokenizerDownloadInfo
from tokenizer_acquisition.domain.results import AcquisitionResult
from tokenizer_acquisition.ports.acquisition import TokenizerAcquisition
from tokenizer_acquisition.ports.cache import TokenizerCache
from tokenizer_acquisition.ports.events import AcquisitionObserver, AttemptEvent


class ScriptedAcquisition(TokenizerAcquisition):
    """Answers from a script: a directory that holds the files, or an error to raise."""

    def __init__(self, name: str, *, directory: Path | None = None,
                 error: AcquisitionError | None = None, available: bool = True,
                 reason: str = "switched off", uses_network: bool = False) -> None:
        self.name = name
        self.uses_network = uses_network
        self._directory = directory
        self._error = error
        self._available = available
        self._reason = reason
        self.calls: list[TokenizerDownloadInfo] = []
        self.closed = 0

    @property
    def description(self) -> str:
        return f"{self.name}: scripted"

    def is_available(self) -> bool:
        return self._available

    def unavailable_reason(self) -> str | None:
        return None if self._available else self._reason

    def requirements(self) -> list[str]:
        return [f"{self.name} requirement"]

    async def acquire(self, info: TokenizerDownloadInfo) -> AcquisitionResult:
        self.calls.append(info)
        if self._error is not None:
            raise self._error
        if self._directory is None:
            raise TokenizerNotFound(info.cache_key, info.files)
        files = {name: self._directory / name for name in info.files}
        return AcquisitionResult(path=files[primary_file(info.files)], directory=self._directory,
                                 files=files, strategy=self.name, from_cache=False,
                                 bytes_downloaded=7)

    async def aclose(self) -> None:
        self.closed += 1


class RecordingObserver(AcquisitionObserver):
    """Keeps every event, for assertions on what was reported."""

    def __init__(self) -> None:
        self.events: list[AttemptEvent] = []

    def attempt_finished(self, event: AttemptEvent) -> None:
        self.events.append(event)


class RecordingFileObserver(AcquisitionObserver):
    """Keeps every per-file progress event as (what, file, total or bytes or None)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []

    def file_started(self, cache_key: str, file: str, total: int | None) -> None:
        self.events.append(("started", file, total))

    def file_advanced(self, cache_key: str, file: str, nbytes: int) -> None:
        self.events.append(("advanced", file, nbytes))

    def file_finished(self, cache_key: str, file: str) -> None:
        self.events.append(("finished", file, None))


class FakeCache(TokenizerCache):
    """The cache port with its bookkeeping in memory and its files on disk under ``root``.

    Blobs are ``<root>/blobs/<sha256>``; each published set is a fresh directory
    ``<root>/snapshots/<key>/<n>/`` holding copies of its blobs, and becomes the key's
    current set at once. Contract checks a real cache relies on raise ``AssertionError``:
    a blob must hash to its name, and a published set must name only stored blobs.
    ``published`` keeps every set handed to ``publish``, in order.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.current: dict[str, tuple[Path, Snapshot]] = {}
        self.journals: dict[tuple[str, str], Snapshot] = {}
        self.published: list[Snapshot] = []
        self.stored: list[str] = []

    @property
    def description(self) -> str:
        return "the fake cache"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    def exists(self) -> bool:
        return True

    def directory(self, cache_key: str) -> Path:
        return self.root / cache_key

    # -- helpers for tests -----------------------------------------------------------------

    def seed(self, cache_key: str, files: Mapping[str, bytes], *, repo: str = "org/model",
             revision: str = "main", commit: str | None = "c" * 40) -> Snapshot:
        """Publish ``files`` as the key's set, as an earlier download would have."""
        entries = {}
        for name, data in files.items():
            digest = hashlib.sha256(data).hexdigest()
            self.blobs.mkdir(parents=True, exist_ok=True)
            (self.blobs / digest).write_bytes(data)
            entries[name] = ManifestEntry(size=len(data), sha256=digest, commit=commit,
                                          revision=revision, repo=repo, source="seeded")
        snapshot = Snapshot(cache_key=cache_key, repo=repo, revision=revision, commit=commit,
                            files=entries, created_at=time.time())
        self._install(snapshot)
        return snapshot

    def snapshot(self, cache_key: str) -> Snapshot | None:
        """The key's current set."""
        current = self.current.get(cache_key)
        return current[1] if current is not None else None

    def content(self, cache_key: str, file: str) -> bytes:
        """The bytes the key's current set shows for ``file``."""
        return (self.current[cache_key][0] / file).read_bytes()

    # -- read side -------------------------------------------------------------------------

    def locate(self, info: TokenizerDownloadInfo) -> Located:
        current = self.current.get(info.cache_key)
        if current is None:
            return Located(self.directory(info.cache_key), {})
        directory, snapshot = current
        found = {}
        for name in info.files:
            path = directory / name
            if path.is_file():
                data = path.read_bytes()
                found[name] = FileFacts(path, len(data),
                                        sha256=hashlib.sha256(data).hexdigest())
        return Located(directory, found, dict(snapshot.files), commit=snapshot.commit,
                       managed=True, repo=snapshot.repo, revision=snapshot.revision)

    def read_bytes(self, located: Located, file: str) -> bytes:
        return located.found[file].path.read_bytes()

    # -- write side ------------------------------------------------------------------------

    def ensure_writable(self) -> None:
        pass

    def check_publishable(self, cache_key: str) -> None:
        pass

    def staging_path(self, cache_key: str, file: str, tag: str) -> Path:
        return self.root / "partials" / f"{cache_key}-{file}-{tag}"

    def store_blob(self, staged: Path, sha256: str) -> Path:
        assert hashlib.sha256(staged.read_bytes()).hexdigest() == sha256, \
            f"{staged} stored under a digest its bytes do not have"
        self.blobs.mkdir(parents=True, exist_ok=True)
        blob = self.blobs / sha256
        staged.replace(blob)
        self.stored.append(sha256)
        return blob

    def existing_blob(self, sha256: str) -> Path | None:
        blob = self.blobs / sha256
        if blob.is_file() and hashlib.sha256(blob.read_bytes()).hexdigest() == sha256:
            return blob
        return None

    def pending(self, cache_key: str, tag: str) -> Snapshot | None:
        return self.journals.get((cache_key, tag))

    def remember(self, cache_key: str, tag: str, snapshot: Snapshot) -> None:
        self.journals[(cache_key, tag)] = snapshot

    def publish(self, snapshot: Snapshot, tag: str | None = None) -> Located:
        for name, entry in snapshot.files.items():
            assert entry.sha256 is not None and self.existing_blob(entry.sha256), \
                f"{name} published without its verified blob"
        self.published.append(snapshot)
        directory = self._install(snapshot)
        if tag is not None:
            self.journals.pop((snapshot.cache_key, tag), None)
        found = {name: FileFacts(directory / name, e.size, sha256=e.sha256)
                 for name, e in snapshot.files.items()}
        return Located(directory, found, dict(snapshot.files), commit=snapshot.commit,
                       managed=True, repo=snapshot.repo, revision=snapshot.revision)

    def _install(self, snapshot: Snapshot) -> Path:
        base = self.root / "snapshots" / snapshot.cache_key
        directory = base / str(sum(1 for _ in base.iterdir()) if base.is_dir() else 0)
        for name, entry in snapshot.files.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.blobs / str(entry.sha256), directory / name)
        directory.mkdir(parents=True, exist_ok=True)
        self.current[snapshot.cache_key] = (directory, snapshot)
        return directory
