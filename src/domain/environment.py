"""The one parser for boolean environment switches (offline mode and friends)."""

from __future__ import annotations

from collections.abc import Mapping

TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y", "t"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off", "n", "f"})

#: Checked in this order; the first truthy one names the source in messages.
OFFLINE_VARIABLES = ("TOKACQ_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def parse_bool(value: str) -> bool | None:
    """``True``/``False`` for the usual spellings, ``None`` for anything else."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def offline_source(environ: Mapping[str, str]) -> str | None:
    """The first offline variable that is set truthy, or None."""
    for name in OFFLINE_VARIABLES:
        value = environ.get(name)
        if value is not None and parse_bool(value):
            return name
    return None
