"""The one parser for boolean environment switches (offline mode and friends)."""

from __future__ import annotations

from collections.abc import Mapping

from .errors import ConfigurationError

TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y", "t"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off", "n", "f"})

#: Checked in this order; the first one set (to a non-blank value) decides, either way.
OFFLINE_VARIABLES = ("TOKACQ_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def parse_bool(value: str) -> bool | None:
    """``True``/``False`` for the usual spellings, ``None`` for anything else."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def offline_source(environ: Mapping[str, str]) -> tuple[str, bool] | None:
    """The offline variable that decides and what it says, or None when none is set.

    An explicit false (``TOKACQ_OFFLINE=0``) is a decision too: it overrides a config
    file's ``offline = true`` and the variables after it. A blank value counts as unset
    (``export TOKACQ_OFFLINE=`` clears it); a word that is neither true nor false is a
    ``ConfigurationError`` naming the variable, never silently online.
    """
    for name in OFFLINE_VARIABLES:
        value = environ.get(name)
        if value is None or not value.strip():
            continue
        decided = parse_bool(value)
        if decided is None:
            raise ConfigurationError(
                f"{name}={value!r} is not a boolean", key="offline", value=value,
                source=f"environment variable {name}",
                choices=tuple(sorted((TRUE_WORDS | FALSE_WORDS) - {""})),
                suggestions=[f"set {name} to 1 (offline) or 0 (online), or unset it"])
        return name, decided
    return None
