"""Test doubles shipped with the library: a local Hugging Face Hub with fault injection.

Names are imported lazily so that importing this package needs no aiohttp, and so that
``python -m tokenizer_acquisition.testing.hub_simulator`` does not import the module
twice (runpy warns when a package pre-imports the module it is asked to run).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .faults import (
        CloseDelimited,
        ContentEncoding,
        Corrupt,
        EmptyBody,
        Endless,
        ExtraBytes,
        Fault,
        IgnoreRange,
        Latency,
        NoEtag,
        ResetAfter,
        SlowDrip,
        SpliceTotal,
        Status,
        Truncate,
        WrongLength,
    )
    from .hf_support import hf_env, patched_hf_endpoint
    from .hub_simulator import HubSimulator, ThreadedHubSimulator
    from .recording import RecordedRequest

_EXPORTS = {
    "CloseDelimited": "faults",
    "ContentEncoding": "faults",
    "EmptyBody": "faults",
    "NoEtag": "faults",
    "SpliceTotal": "faults",
    "Corrupt": "faults",
    "Endless": "faults",
    "ExtraBytes": "faults",
    "Fault": "faults",
    "IgnoreRange": "faults",
    "Latency": "faults",
    "ResetAfter": "faults",
    "SlowDrip": "faults",
    "Status": "faults",
    "Truncate": "faults",
    "WrongLength": "faults",
    "hf_env": "hf_support",
    "patched_hf_endpoint": "hf_support",
    "HubSimulator": "hub_simulator",
    "RecordedRequest": "recording",
    "ThreadedHubSimulator": "hub_simulator",
}

__all__ = [
    "CloseDelimited",
    "ContentEncoding",
    "Corrupt",
    "EmptyBody",
    "Endless",
    "ExtraBytes",
    "Fault",
    "HubSimulator",
    "IgnoreRange",
    "Latency",
    "NoEtag",
    "RecordedRequest",
    "ResetAfter",
    "SlowDrip",
    "SpliceTotal",
    "Status",
    "ThreadedHubSimulator",
    "Truncate",
    "WrongLength",
    "hf_env",
    "patched_hf_endpoint",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
