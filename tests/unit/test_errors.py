"""Errors are data: typed, with fields and suggestions, and they survive pickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tokenizer_acquisition import errors
from tokenizer_acquisition.domain import errors as domain_errors

SAMPLES = [
    errors.InvalidRequest("files", "../x", "no"),
    errors.ConfigurationError("bad", key="strategy", value="netwrk", source="f.toml",
                              choices=("network",)),
    errors.TokenizerNotFound("k", ("tokenizer.json",), directory=Path("/c/k")),
    errors.AcquisitionUnavailable("network", ["pip install x"], reason="missing"),
    errors.OfflineModeError(source="HF_HUB_OFFLINE"),
    errors.AllStrategiesFailed("k", [errors.Attempt("network", skipped="offline")]),
    errors.VocabMismatch(expected=1, actual=2, file="vocab.txt"),
    errors.IntegrityError("f", expected="a", actual="b", check="sha256"),
    errors.CacheWriteError(Path("/ro"), "read-only"),
    errors.LockTimeout(Path("/c/.tokacq/locks/k.lock"), 1.0, holder_pid=42),
    errors.NetworkError("failed", url="https://h/x", status=500, request_id="r1"),
    errors.RepositoryNotFound("no repo", url="https://h/x", status=401),
    errors.AuthenticationFailed("bad token", url="https://h/x", status=401,
                                server_message="Invalid credentials"),
    errors.GatedRepository("gated", url="https://h/x", status=403),
    errors.RevisionNotFound("no rev", url="https://h/x", status=404),
    errors.EntryNotFound("no file", url="https://h/x", status=404, file="x"),
    errors.RateLimited("slow down", url="https://h/x", status=429, retry_after=3.0),
]


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_error_is_an_acquisition_error_with_suggestions(error: Exception) -> None:
    """All errors share one base and carry a tuple of suggestions."""
    assert isinstance(error, errors.AcquisitionError)
    assert isinstance(error.suggestions, tuple)


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_errors_survive_pickling_with_their_fields(error: errors.AcquisitionError) -> None:
    """Worker pools and subprocesses get the same typed error back."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and vars(copy) == vars(error)
    assert str(copy) == str(error)


def test_offline_error_is_an_unavailable_error() -> None:
    """OfflineModeError is a kind of AcquisitionUnavailable."""
    assert issubclass(errors.OfflineModeError, errors.AcquisitionUnavailable)


def test_http_errors_are_network_errors() -> None:
    """Each Hub error is a NetworkError with url and status."""
    for cls in (errors.RepositoryNotFound, errors.AuthenticationFailed,
                errors.GatedRepository, errors.RevisionNotFound, errors.EntryNotFound,
                errors.RateLimited):
        assert issubclass(cls, errors.NetworkError)


def test_the_module_docstring_draws_every_error() -> None:
    """The tree in domain/errors.py's docstring names every public error class."""
    doc = domain_errors.__doc__ or ""
    for name in errors.__all__:
        if name != "Attempt":
            assert name in doc, name


def test_not_found_suggests_the_exact_directory_and_files() -> None:
    """A person can fix a miss by hand from the suggestion alone."""
    error = errors.TokenizerNotFound("k", ("tokenizer.json", "vocab.txt"), directory=Path("/c/k"))
    assert error.suggestions[0] == "place tokenizer.json, vocab.txt in /c/k"
    assert error.missing_files == ("tokenizer.json", "vocab.txt")
