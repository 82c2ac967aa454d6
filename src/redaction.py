"""A structlog processor that keeps tokens out of logs; add it in your application."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from .domain.safe_text import REDACTED, scrub_secrets

SECRET_KEYS = frozenset({"token", "authorization", "hf_token", "password", "api_key",
                         "access_token", "secret"})


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_secrets(value)
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in SECRET_KEYS else _scrub(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v) for v in value)
    return value


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Mask values of secret-named keys, ``Bearer`` credentials and ``hf_`` tokens.

    ``structlog.configure(processors=[redact_secrets, ...])``; place it before renderers.
    """
    for key in list(event_dict):
        if key.lower() in SECRET_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict
