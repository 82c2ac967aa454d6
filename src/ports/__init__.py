"""Interfaces only: what the domain needs from the outside world."""

from .acquisition import TokenizerAcquisition
from .cache import TokenizerCache
from .events import AcquisitionObserver, AttemptEvent, NullObserver
from .remote import Fetched, RemoteFile, RemoteFiles, TransferProgress
from .source import TokenizerSource

__all__ = [
    "AcquisitionObserver",
    "AttemptEvent",
    "Fetched",
    "NullObserver",
    "RemoteFile",
    "RemoteFiles",
    "TokenizerAcquisition",
    "TokenizerCache",
    "TokenizerSource",
    "TransferProgress",
]
