"""Interfaces only: what the domain needs from the outside world."""

from .acquisition import TokenizerAcquisition
from .cache import TokenizerCache
from .events import AcquisitionObserver, AttemptEvent, NullObserver
from .source import TokenizerSource

__all__ = [
    "AcquisitionObserver",
    "AttemptEvent",
    "NullObserver",
    "TokenizerAcquisition",
    "TokenizerCache",
    "TokenizerSource",
]
