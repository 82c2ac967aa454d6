"""Hand-written fakes of the ports: small enough to read, no patching of internals."""

from __future__ import annotations

from pathlib import Path

from tokenizer_acquisition.domain.errors import AcquisitionError, TokenizerNotFound
from tokenizer_acquisition.domain.primary import primary_file
from tokenizer_acquisition.domain.request import TokenizerDownloadInfo
from tokenizer_acquisition.domain.results import AcquisitionResult
from tokenizer_acquisition.ports.acquisition import TokenizerAcquisition
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
