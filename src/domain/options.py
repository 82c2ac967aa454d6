"""Settings the network strategy runs with, as validated plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ENDPOINT = "https://huggingface.co"


class Secret:
    """A token that never shows itself in ``repr``, ``str``, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class NetworkOptions:
    """Everything ``[network]`` configures; defaults match what the Hub's clients do."""

    endpoint: str = DEFAULT_ENDPOINT
    token: Secret | None = field(default=None, repr=False)
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_retries: int = 5
    max_concurrent_files: int = 4
    max_file_bytes: int = 2 * 1024**3
    ca_bundle: Path | None = None
    trust_env: bool = True
    user_agent: str | None = None
    #: Why the network may not be used (e.g. "HF_HUB_OFFLINE"); None when online.
    offline_source: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "endpoint", self.endpoint.rstrip("/"))

    @property
    def offline(self) -> bool:
        return self.offline_source is not None
