"""Each kind of failure has its own documented exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenizer_acquisition.domain.errors import (
    AcquisitionError,
    AcquisitionUnavailable,
    AllStrategiesFailed,
    Attempt,
    AuthenticationFailed,
    CacheKeyNotFound,
    CacheWriteError,
    ConfigurationError,
    EntryNotFound,
    GatedRepository,
    IntegrityError,
    InvalidRequest,
    ListingRefused,
    ListingUnavailable,
    LockTimeout,
    NetworkError,
    OfflineModeError,
    RateLimited,
    RepositoryNotFound,
    RevisionNotFound,
    TokenizerNotFound,
    VocabMismatch,
)
from tokenizer_acquisition.entrypoints.exit_codes import ExitCode, exit_code_for

URL = "http://hub/x"
MISS = TokenizerNotFound("k", ["tokenizer.json"])


@pytest.mark.parametrize(("error", "code"), [
    (ConfigurationError("bad", key="strategy"), ExitCode.USAGE),
    (InvalidRequest("repo", "x y", "bad"), ExitCode.USAGE),
    (AcquisitionUnavailable("network", ["pip install"]), ExitCode.USAGE),
    (OfflineModeError(), ExitCode.USAGE),
    (MISS, ExitCode.NOT_FOUND),
    (CacheKeyNotFound("k", Path("/c")), ExitCode.NOT_FOUND),
    (RepositoryNotFound("no repo", url=URL, status=401), ExitCode.NOT_FOUND),
    (RevisionNotFound("no rev", url=URL, status=404), ExitCode.NOT_FOUND),
    (EntryNotFound("no file", url=URL, status=404, file="f"), ExitCode.NOT_FOUND),
    (GatedRepository("gated", url=URL, status=403), ExitCode.AUTH),
    (AuthenticationFailed("bad token", url=URL, status=401), ExitCode.AUTH),
    (AuthenticationFailed("denied", url=URL, status=403), ExitCode.AUTH),
    (RepositoryNotFound("private or missing", url=URL, status=401), ExitCode.NOT_FOUND),
    (NetworkError("denied by a proxy", url=URL, status=403), ExitCode.NETWORK),
    (NetworkError("refused", url=URL), ExitCode.NETWORK),
    (NetworkError("bad gateway", url=URL, status=502), ExitCode.NETWORK),
    (RateLimited("slow down", url=URL, status=429, retry_after=1.0), ExitCode.NETWORK),
    (IntegrityError("f", expected="a", actual="b", check="sha256"), ExitCode.INTEGRITY),
    (VocabMismatch(1, 2, "tokenizer.json"), ExitCode.INTEGRITY),
    (ListingRefused("org/name", "unsafe path '../x'"), ExitCode.INTEGRITY),
    (ListingUnavailable("org/name", "main", reason="no API", status=404), ExitCode.NETWORK),
    (LockTimeout(Path("/l"), 1.0), ExitCode.LOCK_TIMEOUT),
    (CacheWriteError(Path("/c"), "read-only"), ExitCode.CACHE_WRITE),
    (AcquisitionError("something new"), ExitCode.INTERNAL),
    (KeyboardInterrupt(), ExitCode.INTERRUPTED),
])
def test_error_maps_to_its_exit_code(error: BaseException, code: ExitCode) -> None:
    """The table in exit_codes' docstring, one row at a time."""
    assert exit_code_for(error) is code


def test_codes_are_distinct() -> None:
    """No two kinds of failure share a code."""
    assert len({int(c) for c in ExitCode}) == len(ExitCode)


def test_all_failed_with_only_misses_is_not_found() -> None:
    """Every strategy missing (or skipped) means the tokenizer is not to be found."""
    error = AllStrategiesFailed("k", [Attempt("cache-only", MISS),
                                      Attempt("network", skipped="offline mode is on"),
                                      Attempt("hf-cache", RepositoryNotFound("x", url=URL))])
    assert exit_code_for(error) is ExitCode.NOT_FOUND


def test_all_failed_takes_the_first_failure_that_is_not_a_miss() -> None:
    """A cache miss followed by a network failure exits with the network's code."""
    error = AllStrategiesFailed("k", [Attempt("cache-only", MISS),
                                      Attempt("network", GatedRepository("g", url=URL))])
    assert exit_code_for(error) is ExitCode.AUTH


def test_all_skipped_is_a_configuration_problem() -> None:
    """Nothing could even run: the configuration cannot work here."""
    error = AllStrategiesFailed("k", [Attempt("network", skipped="aiohttp is not installed")])
    assert exit_code_for(error) is ExitCode.USAGE


def test_the_decisive_error_exits_as_the_all_failed_rule_would() -> None:
    """Hybrid now raises the network's own error after misses: the exit code is unchanged."""
    for decisive in (GatedRepository("g", url=URL), RepositoryNotFound("r", url=URL)):
        together = AllStrategiesFailed("k", [Attempt("cache-only", MISS),
                                             Attempt("network", decisive)])
        assert exit_code_for(decisive) is exit_code_for(together)
