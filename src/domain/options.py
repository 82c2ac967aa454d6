"""Settings the network strategy runs with, as validated plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigurationError

DEFAULT_ENDPOINT = "https://huggingface.co"
#: How long a process waits for another one's download of the same tokenizer (seconds).
DEFAULT_LOCK_TIMEOUT = 600.0


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
        object.__setattr__(self, "endpoint", checked_endpoint(self.endpoint))

    @property
    def offline(self) -> bool:
        return self.offline_source is not None


def mask_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``, for messages and errors."""
    start = url.find("://")
    start = 0 if start < 0 else start + 3
    end = next((i for i in range(start, len(url)) if url[i] in "/?#"), len(url))
    at = url.rfind("@", start, end)
    return url if at < 0 else f"{url[:start]}***{url[at:]}"


def checked_endpoint(url: str, source: str | None = None) -> str:
    """``url`` without its trailing slash, if it is an http(s) URL without credentials.

    Credentials in the URL would be sent to every mirror redirect and shown in every
    message; the token setting is the place for them. The error shows and keeps only the
    masked URL (``https://***@host``).
    """
    if url.startswith(("http://", "https://")) and mask_userinfo(url) == url:
        return url.rstrip("/")
    shown = mask_userinfo(url)
    raise ConfigurationError(
        f"setting 'network.endpoint' = {shown!r} is invalid: expected an http(s) URL "
        "without credentials", key="network.endpoint", value=shown, source=source,
        suggestions=["put the credentials in the token setting (or HF_TOKEN), not the URL"]
        if shown != url else [])
