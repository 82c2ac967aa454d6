"""The port every acquisition strategy implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..domain.request import TokenizerDownloadInfo
    from ..domain.results import AcquisitionPlan, AcquisitionResult


@dataclass(frozen=True)
class StrategyStatus:
    """One strategy's answer to "can you run here, and if not, why?"."""

    name: str
    description: str
    available: bool
    requirements: tuple[str, ...] = ()
    reason: str | None = None
    uses_network: bool = False

    @classmethod
    def of(cls, strategy: TokenizerAcquisition) -> StrategyStatus:
        """``strategy``'s own answer (its parts, if it has any, are not asked)."""
        available = strategy.is_available()
        return cls(
            name=strategy.name,
            description=strategy.description,
            available=available,
            requirements=tuple(strategy.requirements()),
            reason=None if available else strategy.unavailable_reason(),
            uses_network=strategy.uses_network,
        )


class TokenizerAcquisition(ABC):
    """Gets a tokenizer's files onto local disk, or says precisely why it cannot.

    ``is_available()`` and ``requirements()`` answer before any I/O, so a configuration
    that cannot work is reported when it is built, not at download time.
    """

    #: Short id: "network", "cache-only", "hybrid", ...
    name: str
    uses_network: bool = False

    @property
    @abstractmethod
    def description(self) -> str:
        """One line for humans: what this strategy does and from where."""

    @abstractmethod
    def is_available(self) -> bool:
        """Whether ``acquire`` can run at all in this configuration."""

    @abstractmethod
    def requirements(self) -> list[str]:
        """What must hold for this strategy to be available (install commands, settings)."""

    def unavailable_reason(self) -> str | None:
        """Why ``is_available()`` is false; None when it is available."""
        return None if self.is_available() else "requirements not met"

    def statuses(self) -> tuple[StrategyStatus, ...]:
        """One status per part, in order: a composite strategy (``HybridAcquisition``, or
        your own) reports each part it holds; by default, the strategy itself."""
        return (StrategyStatus.of(self),)

    @abstractmethod
    async def acquire(self, info: TokenizerDownloadInfo) -> AcquisitionResult:
        """Acquire every requested file; the result names the primary one."""

    async def acquire_tokenizer(self, info: TokenizerDownloadInfo) -> Path:
        """The primary file's path (``tokenizer.json``, ``tokenizer.model``, ...)."""
        return (await self.acquire(info)).path

    async def plan(self, info: TokenizerDownloadInfo) -> AcquisitionPlan:
        """What ``acquire`` would do (the commit, the files with sizes and digests, what is
        cached) without downloading or writing anything. The default raises
        ``NotImplementedError``; the facade reports it as ``AcquisitionUnavailable``."""
        raise NotImplementedError(f"strategy {self.name!r} cannot plan")

    async def aclose(self) -> None:  # noqa: B027 - optional hook, default is nothing to close
        """Release pooled resources (HTTP sessions); idempotent."""
