"""Turning raw setting values (TOML or environment strings) into typed, checked ones.

Which converter checks which key is said once, in ``settings.SETTINGS``.

Every converter takes ``(key, value, source)`` and returns the typed value or raises our
``ConfigurationError`` naming the key, where it came from, and (for choices) the closest
valid one. Secrets never appear in these errors: tokens are shown as ``***`` and URLs
lose their ``user:password@`` part.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .domain.environment import parse_bool
from .domain.errors import ConfigurationError
from .domain.options import check_header_value, checked_endpoint, mask_userinfo

STRATEGY_NAMES = ("hybrid", "cache-only", "hf-cache", "local-dir", "network", "s3")

Converter = Callable[[str, Any, str], Any]


def _closest(value: str, choices: tuple[str, ...]) -> list[str]:
    import difflib  # only when a setting is wrong: not at the package's import

    match = difflib.get_close_matches(value, choices, n=1)
    return [f"did you mean {match[0]!r}?"] if match else []


def unknown_key(key: str, choices: tuple[str, ...], source: str) -> ConfigurationError:
    leaf = key.rsplit(".", 1)[-1]
    return ConfigurationError(
        f"unknown setting {key!r}", key=key, value=None, source=source, choices=choices,
        suggestions=[*_closest(leaf, choices), f"valid keys: {', '.join(choices)}"],
    )


def _shown(key: str, value: object) -> object:
    """What an error may repeat of ``value``: never a token, never URL credentials."""
    if key.endswith("token"):
        return None
    if key.endswith("endpoint") and isinstance(value, str):
        return mask_userinfo(value)
    return value


def bad_value(key: str, value: object, source: str, expected: str,
         choices: tuple[str, ...] = ()) -> ConfigurationError:
    kept = _shown(key, value)
    shown = "***" if key.endswith("token") else repr(kept)
    hints = _closest(value, choices) if isinstance(value, str) and choices else []
    if choices:
        hints.append(f"valid choices: {', '.join(choices)}")
    return ConfigurationError(f"setting {key!r} = {shown} is invalid: expected {expected}",
                              key=key, value=kept, source=source, choices=choices,
                              suggestions=hints)


def as_bool(key: str, value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and parse_bool(value) is not None:
        return bool(parse_bool(value))
    raise bad_value(key, value, source, "a boolean (true/false)")


_KIND_NAMES = {int: "an integer", float: "a number"}


def as_number(kind: type, minimum: float) -> Converter:
    expected = f"{_KIND_NAMES[kind]} >= {minimum:g}"

    def convert(key: str, value: Any, source: str) -> Any:
        if isinstance(value, str):
            try:
                value = kind(value)
            except ValueError:
                raise bad_value(key, value, source, expected) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad_value(key, value, source, expected)
        if kind is int and not isinstance(value, int):
            raise bad_value(key, value, source, expected)
        if not math.isfinite(value) or value < minimum:
            raise bad_value(key, value, source, f"a finite {expected.split(' ', 1)[1]}")
        return kind(value)
    return convert


def as_str(key: str, value: Any, source: str) -> str:
    if not isinstance(value, str) or not value:
        raise bad_value(key, value, source, "a non-empty string")
    return value


def as_header_value(key: str, value: Any, source: str) -> str:
    """A token or user agent: sent in an HTTP header, so no CR, LF or other control."""
    return check_header_value(key, as_str(key, value, source), source)


def as_path(key: str, value: Any, source: str) -> Path:
    text = as_str(key, value, source)
    if "\x00" in text:
        raise bad_value(key, value, source, "a path without NUL characters")
    try:
        return Path(text).expanduser()
    except RuntimeError:  # "~user" for a user this machine does not know
        raise bad_value(key, value, source, "a path whose '~user' exists on this machine") from None


def as_strategy(key: str, value: Any, source: str) -> str:
    if not isinstance(value, str) or value not in STRATEGY_NAMES:
        raise bad_value(key, value, source, "a strategy name", STRATEGY_NAMES)
    return value


def as_order(key: str, value: Any, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value:
        raise bad_value(key, value, source, "a non-empty list of strategy names", STRATEGY_NAMES)
    order = tuple(as_strategy(key, v, source) for v in value)
    if "hybrid" in order:
        raise bad_value(key, "hybrid", source, "strategies other than 'hybrid'", STRATEGY_NAMES)
    if len(set(order)) != len(order):
        raise bad_value(key, value, source, "each strategy at most once", STRATEGY_NAMES)
    return order


def as_endpoint(key: str, value: Any, source: str) -> str:
    return checked_endpoint(as_str(key, value, source), source)


def as_s3_endpoint(key: str, value: Any, source: str) -> str:
    try:
        return checked_endpoint(as_str(key, value, source), source)
    except ConfigurationError:
        raise bad_value(key, mask_userinfo(str(value)), source,
                        "an http(s) URL without credentials, query or fragment") from None


def as_s3_url(key: str, value: Any, source: str) -> str:
    from .domain.bucket_layout import parse_s3_url

    text = as_str(key, value, source)
    parse_s3_url(text, key, source)
    return text


def as_choice(*choices: str) -> Converter:
    def convert(key: str, value: Any, source: str) -> str:
        if not isinstance(value, str) or value not in choices:
            raise bad_value(key, value, source, "one of the choices", choices)
        return value
    return convert
