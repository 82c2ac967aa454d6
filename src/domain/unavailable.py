"""A strategy that cannot run here, kept in a hybrid order so it can say why."""

from __future__ import annotations

from collections.abc import Sequence

from ..ports.acquisition import TokenizerAcquisition
from .errors import AcquisitionUnavailable
from .request import TokenizerDownloadInfo
from .results import AcquisitionResult


class UnavailableAcquisition(TokenizerAcquisition):
    """Placeholder for e.g. the network strategy on an install without aiohttp."""

    def __init__(self, name: str, reason: str, requirements: Sequence[str],
                 uses_network: bool = False) -> None:
        self.name = name
        self.uses_network = uses_network
        self._reason = reason
        self._requirements = list(requirements)

    @property
    def description(self) -> str:
        return f"{self.name}: unavailable ({self._reason})"

    def is_available(self) -> bool:
        return False

    def unavailable_reason(self) -> str:
        return self._reason

    def requirements(self) -> list[str]:
        return list(self._requirements)

    async def acquire(self, info: TokenizerDownloadInfo) -> AcquisitionResult:
        raise AcquisitionUnavailable(self.name, self._requirements, reason=self._reason)
