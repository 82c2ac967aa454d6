"""Where ``huggingface_hub`` keeps things on this machine, by its own rules.

Read from the environment mapping passed in (``os.environ`` when none), never at import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def _hf_home(env: Mapping[str, str]) -> tuple[Path, str | None]:
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser(), "environment variable HF_HOME"
    if env.get("XDG_CACHE_HOME"):
        return (Path(env["XDG_CACHE_HOME"]).expanduser() / "huggingface",
                "environment variable XDG_CACHE_HOME")
    return Path("~/.cache/huggingface").expanduser(), None


def hf_home(env: Mapping[str, str] | None = None) -> Path:
    """``$HF_HOME``, else ``$XDG_CACHE_HOME/huggingface``, else ``~/.cache/huggingface``."""
    return _hf_home(os.environ if env is None else env)[0]


def hf_cache_default(environ: Mapping[str, str] | None = None) -> tuple[Path, str | None]:
    """Where ``huggingface_hub`` keeps its cache, and the variable that said so (if any).

    Same rule as ``huggingface_hub.constants``: ``HF_HUB_CACHE`` (or its legacy name
    ``HUGGINGFACE_HUB_CACHE``), else ``<hf_home>/hub``.
    """
    env = os.environ if environ is None else environ
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(variable):
            return Path(env[variable]).expanduser(), f"environment variable {variable}"
    home, source = _hf_home(env)
    return home / "hub", source


def hub_token_file(environ: Mapping[str, str] | None = None) -> Path:
    """Where ``hf auth login`` keeps the token: ``$HF_TOKEN_PATH`` or ``<hf_home>/token``."""
    env = os.environ if environ is None else environ
    if env.get("HF_TOKEN_PATH"):
        return Path(env["HF_TOKEN_PATH"]).expanduser()
    return hf_home(env) / "token"
