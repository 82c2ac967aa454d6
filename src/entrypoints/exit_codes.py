"""Exit codes of ``tokacq``: one per kind of failure a script may want to tell apart.

====  ============  ===============================================================
code  name          when
====  ============  ===============================================================
0     OK            success
1     INTERNAL      an unexpected error (a bug: rerun with ``--debug`` and report it)
2     USAGE         bad arguments, configuration or lock file (``ConfigurationError``,
                    ``InvalidRequest``), or a strategy this build or setting cannot
                    run (``AcquisitionUnavailable``, ``OfflineModeError``), or a cache
                    key that holds another repo (``CacheKeyConflict``)
3     NOT_FOUND     repo, revision or file unknown to the Hub, cache miss
                    (``TokenizerNotFound``), unknown cache key, or
                    ``AllStrategiesFailed`` whose failures are all "not found"
4     AUTH          gated repo (``GatedRepository``), or the server refused the token
                    (``AuthenticationFailed``: an HTTP 401/403 that is not RepoNotFound)
5     NETWORK       connection failures, timeouts, 5xx, rate limiting
6     INTEGRITY     hash, size or format check failed, ``VocabMismatch``, or
                    ``tokacq cache verify`` found a corrupt or missing file
7     LOCK_TIMEOUT  another process held the cache key's lock too long (``LockTimeout``)
8     CACHE_WRITE   the cache cannot be written (``CacheWriteError``)
130   INTERRUPTED   Ctrl-C
141   BROKEN_PIPE   stdout's reader went away (``tokacq cache list | head -1``): the
                    command stops quietly, with the status a shell gives other tools
                    killed by SIGPIPE (128 + 13)
====  ============  ===============================================================

``AllStrategiesFailed`` takes the code of its first failure that is not "not found"
(typically the network's, after a cache miss), else NOT_FOUND; when every strategy was
skipped as unavailable, USAGE.
"""

from __future__ import annotations

from enum import IntEnum

from ..domain.errors import (
    AcquisitionError,
    AcquisitionUnavailable,
    AllStrategiesFailed,
    AuthenticationFailed,
    CacheKeyConflict,
    CacheWriteError,
    ConfigurationError,
    EntryNotFound,
    GatedRepository,
    IntegrityError,
    InvalidRequest,
    LockTimeout,
    NetworkError,
    RepositoryNotFound,
    RevisionNotFound,
    TokenizerNotFound,
    VocabMismatch,
)


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    NOT_FOUND = 3
    AUTH = 4
    NETWORK = 5
    INTEGRITY = 6
    LOCK_TIMEOUT = 7
    CACHE_WRITE = 8
    INTERRUPTED = 130
    BROKEN_PIPE = 141


_BY_TYPE: tuple[tuple[type[AcquisitionError], ExitCode], ...] = (
    (GatedRepository, ExitCode.AUTH),
    (AuthenticationFailed, ExitCode.AUTH),
    (RepositoryNotFound, ExitCode.NOT_FOUND),
    (RevisionNotFound, ExitCode.NOT_FOUND),
    (EntryNotFound, ExitCode.NOT_FOUND),
    (TokenizerNotFound, ExitCode.NOT_FOUND),
    (IntegrityError, ExitCode.INTEGRITY),
    (VocabMismatch, ExitCode.INTEGRITY),
    (LockTimeout, ExitCode.LOCK_TIMEOUT),
    (CacheWriteError, ExitCode.CACHE_WRITE),
    (CacheKeyConflict, ExitCode.USAGE),
    (ConfigurationError, ExitCode.USAGE),
    (InvalidRequest, ExitCode.USAGE),
    (AcquisitionUnavailable, ExitCode.USAGE),
    (NetworkError, ExitCode.NETWORK),
)


def exit_code_for(error: BaseException) -> ExitCode:
    """The documented exit code for ``error`` (see the module docstring)."""
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(error, AllStrategiesFailed):
        return _all_failed(error)
    for kind, code in _BY_TYPE:
        if isinstance(error, kind):
            return code
    return ExitCode.INTERNAL


def _all_failed(error: AllStrategiesFailed) -> ExitCode:
    codes = [exit_code_for(a.error) for a in error.attempts if a.error is not None]
    if not codes:
        return ExitCode.USAGE
    return next((c for c in codes if c is not ExitCode.NOT_FOUND), ExitCode.NOT_FOUND)
