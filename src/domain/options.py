"""Settings the network strategy runs with, as validated plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .safe_text import has_control

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
        if self.token is not None:
            check_header_value("network.token", self.token.reveal())
        if self.user_agent is not None:
            check_header_value("network.user_agent", self.user_agent)

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


def check_header_value(key: str, value: str, source: str | None = None) -> str:
    """``value`` if it can travel in an HTTP header; ``ConfigurationError`` naming ``key``.

    A CR or LF (from ``echo`` into a token file, a pasted token, a templated user agent)
    would otherwise be refused by the HTTP client on every attempt and surface as a
    network error after all retries. The value is never repeated: it may be a token.
    """
    if has_control(value):
        raise ConfigurationError(
            f"setting {key!r} contains a control character (such as CR, LF or TAB), which "
            "cannot be sent in an HTTP header", key=key, value=None, source=source,
            suggestions=[f"remove line breaks and other control characters from {key}"])
    return value


def _endpoint_error(url: str, problem: str, source: str | None,
                    suggestions: list[str] | None = None) -> ConfigurationError:
    shown = mask_userinfo(url)
    return ConfigurationError(
        f"setting 'network.endpoint' = {shown!r} is invalid: {problem}",
        key="network.endpoint", value=shown, source=source, suggestions=suggestions or [])


def checked_endpoint(url: str, source: str | None = None) -> str:
    """``url`` without its trailing slash, if it is an http(s) URL without credentials.

    The scheme may be written in any case (``HTTPS://``; it is returned lowercase). The
    port must be 0-65535, an IPv6 host well-formed, and there may be no query or fragment:
    request paths are appended to the endpoint, so either would break every URL.
    Credentials in the URL would be sent to every mirror redirect and shown in every
    message; the token setting is the place for them. The error shows and keeps only the
    masked URL (``https://***@host``).
    """
    expected = "expected an http(s) URL without credentials"
    if mask_userinfo(url) != url:
        raise _endpoint_error(
            url, expected, source,
            ["put the credentials in the token setting (or HF_TOKEN), not the URL"])
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise _endpoint_error(url, expected, source)
    normalized = f"{scheme.lower()}://{rest}"
    if has_control(url) or " " in url:
        raise _endpoint_error(url, "spaces and control characters are not allowed", source)
    try:
        parts = urlsplit(normalized)
        parts.port  # noqa: B018 - raises ValueError when out of range or not a number
    except ValueError as exc:  # "Port out of range 0-65535", "Invalid IPv6 URL"
        raise _endpoint_error(url, f"not a valid URL ({exc})", source) from None
    if not parts.hostname:
        raise _endpoint_error(url, "not a valid URL (no host)", source)
    if parts.query or parts.fragment or "?" in rest or "#" in rest:
        raise _endpoint_error(url, "a query ('?...') or fragment ('#...') is not allowed",
                              source, ["give the base URL only, e.g. https://hub.example"])
    return normalized.rstrip("/")

