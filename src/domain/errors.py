"""Typed errors: every failure a caller can act on is a class with fields.

The tree (all carry ``suggestions: tuple[str, ...]``)::

    AcquisitionError
    ├── InvalidRequest            field, value, reason
    ├── ConfigurationError        key, value, source, choices
    ├── TokenizerNotFound         cache_key, missing_files, directory
    │   └── CacheKeyNotFound      (nothing at all under that key: tokacq cache ...)
    ├── AcquisitionUnavailable    strategy, requirements
    │   └── OfflineModeError
    ├── AllStrategiesFailed       attempts (strategy, error or skip reason)
    ├── VocabMismatch             expected, actual, file
    ├── IntegrityError            file, expected, actual, check
    │   └── ListingRefused        repo, entry (a hostile repo listing; discovery.py)
    ├── CacheWriteError           path, reason
    ├── CacheKeyConflict          cache_key, cached_repo, requested_repo
    ├── LockTimeout               lock_file, timeout_s, holder_pid
    └── NetworkError              url, status, server_message, request_id
        ├── ListingUnavailable    repo, revision (the endpoint or transport cannot list)
        ├── RepositoryNotFound
        ├── AuthenticationFailed  (401/403 that is neither RepoNotFound nor GatedRepo)
        ├── GatedRepository
        ├── RevisionNotFound
        ├── EntryNotFound         file
        └── RateLimited           retry_after

Messages never contain secrets: URLs are stored without credentials and tokens are
never passed to these constructors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _rebuild(cls: type[AcquisitionError], state: dict[str, Any]) -> AcquisitionError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class AcquisitionError(Exception):
    """Base of every error this library raises on purpose."""

    message: str
    suggestions: tuple[str, ...]

    def __init__(self, message: str, *, suggestions: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.suggestions = tuple(suggestions)

    def __str__(self) -> str:
        if not self.suggestions:
            return self.message
        hints = "\n".join(f"  - {s}" for s in self.suggestions)
        return f"{self.message}\nSuggestions:\n{hints}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not survive pickling by default; errors cross
        # process boundaries (worker pools, multiprocessing tests), so keep their fields.
        return (_rebuild, (type(self), dict(self.__dict__)))


class InvalidRequest(AcquisitionError, ValueError):
    """A request (``TokenizerDownloadInfo``) is malformed."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(
            f"invalid {field} {value!r}: {reason}",
            suggestions=(f"fix the {field!r} argument of TokenizerDownloadInfo",),
        )
        self.field = field
        self.value = value
        self.reason = reason


class ConfigurationError(AcquisitionError):
    """A setting is unknown, of the wrong type, or contradicts another."""

    def __init__(
        self,
        message: str,
        *,
        key: str,
        value: object = None,
        source: str | None = None,
        choices: Sequence[str] = (),
        suggestions: Iterable[str] = (),
    ) -> None:
        where = f" (in {source})" if source else ""
        super().__init__(f"{message}{where}", suggestions=suggestions)
        self.key = key
        self.value = value
        self.source = source
        self.choices = tuple(choices)


#: How many names a message lists before it says "and N more".
LISTED_NAMES = 20


def summarize_names(names: Sequence[str], limit: int = LISTED_NAMES) -> str:
    """``a, b, c`` for a few names; the first ``limit`` and "and N more" for many.

    A request of thousands of files would otherwise make a message of tens of kilobytes;
    the complete list stays in the error's fields (``missing_files``).
    """
    shown = ", ".join(names[:limit])
    rest = len(names) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown


#: A cache miss's advice; meaningless once a network part was tried (hybrid drops it).
ENABLE_DOWNLOADS = "enable downloads (strategy 'network' or 'hybrid') when online"


class TokenizerNotFound(AcquisitionError):
    """The tokenizer is not (completely) in the place a strategy looked."""

    def __init__(
        self,
        cache_key: str,
        missing_files: Sequence[str],
        *,
        directory: Path | None = None,
        suggestions: Iterable[str] | None = None,
        stale_files: Sequence[str] = (),
    ) -> None:
        stale = [name for name in missing_files if name in stale_files]
        absent = [name for name in missing_files if name not in stale_files]
        missing = summarize_names(absent)
        where = f" in {directory}" if directory else ""
        if suggestions is None:
            suggestions = (
                (f"place {missing} in {directory}",) if directory and absent else ()
            ) + (ENABLE_DOWNLOADS,)
        what = [f"missing {missing}"] if absent else []
        if stale:
            what.append(f"present but not verified {summarize_names(stale)}")
        super().__init__(
            f"tokenizer {cache_key!r} not found{where}: {'; '.join(what)}",
            suggestions=suggestions,
        )
        self.cache_key = cache_key
        #: Every file the request still needs: absent ones and ``stale_files``.
        self.missing_files = tuple(missing_files)
        #: Present but unusable: another revision, bytes not matching, not recorded.
        self.stale_files = tuple(stale)
        self.directory = directory


class CacheKeyNotFound(TokenizerNotFound):
    """A cache maintenance command named a key the cache does not hold at all."""

    def __init__(self, cache_key: str, root: Path, *, known: Sequence[str] = ()) -> None:
        import difflib  # only for this error's hint: not at the package's import

        close = difflib.get_close_matches(cache_key, list(known), n=1)
        hints = [f"did you mean {close[0]!r}?"] if close else []
        hints.append("list the cached keys with 'tokacq cache list'")
        AcquisitionError.__init__(self, f"no cache key {cache_key!r} in {root}",
                                  suggestions=hints)
        self.cache_key = cache_key
        self.missing_files = ()
        self.directory = root / cache_key
        self.root = root


class AcquisitionUnavailable(AcquisitionError):
    """A strategy cannot run in this configuration; known before any download."""

    def __init__(
        self,
        strategy: str,
        requirements: Sequence[str],
        *,
        reason: str | None = None,
        suggestions: Iterable[str] | None = None,
    ) -> None:
        why = reason or "requirements not met"
        super().__init__(
            f"strategy {strategy!r} is unavailable: {why}",
            suggestions=tuple(requirements) if suggestions is None else suggestions,
        )
        self.strategy = strategy
        self.requirements = tuple(requirements)
        self.reason = why


class OfflineModeError(AcquisitionUnavailable):
    """A network strategy was asked for while offline mode is on."""

    def __init__(self, strategy: str = "network", *, source: str = "offline mode") -> None:
        super().__init__(
            strategy,
            (f"unset {source} to allow downloads",),
            reason=f"offline mode is on ({source})",
            suggestions=(
                f"unset {source} to allow downloads",
                "use the 'cache-only' or 'hybrid' strategy to serve cached tokenizers",
            ),
        )
        self.source = source


@dataclass(frozen=True)
class Attempt:
    """One strategy's part in a hybrid acquisition: its error, or why it was skipped.

    ``uses_network``: the part reaches the network (a tried one makes the cache parts'
    "enable downloads" advice moot).
    """

    strategy: str
    error: AcquisitionError | None = None
    skipped: str | None = None
    uses_network: bool = False

    @property
    def missed(self) -> bool:
        """The part looked and the files were not there: expected of a cache part."""
        return isinstance(self.error, TokenizerNotFound)

    def describe(self) -> str:
        if self.skipped is not None:
            return f"{self.strategy}: skipped ({self.skipped})"
        message = self.error.message if self.error else ""
        return f"{self.strategy}: {type(self.error).__name__}: {message}"


class AllStrategiesFailed(AcquisitionError):
    """Every strategy of a hybrid acquisition failed or was skipped."""

    def __init__(self, cache_key: str, attempts: Sequence[Attempt]) -> None:
        lines = "; ".join(a.describe() for a in attempts)
        networked = any(a.uses_network and a.skipped is None for a in attempts)
        suggestions: list[str] = []
        for attempt in attempts:
            if attempt.error is not None:
                suggestions.extend(s for s in attempt.error.suggestions if s not in suggestions
                                   and not (networked and s == ENABLE_DOWNLOADS))
        super().__init__(
            f"no strategy could acquire {cache_key!r}: {lines}", suggestions=suggestions
        )
        self.cache_key = cache_key
        self.attempts = tuple(attempts)


class VocabMismatch(AcquisitionError):
    """The tokenizer's vocabulary size is not the one the caller expects."""

    def __init__(self, expected: int, actual: int, file: str) -> None:
        super().__init__(
            f"{file} has a vocabulary of {actual}, expected {expected}",
            suggestions=("check the repo and revision, or the expected_vocab figure",),
        )
        self.expected = expected
        self.actual = actual
        self.file = file


class IntegrityError(AcquisitionError):
    """A file's bytes are not what they should be (size, hash, or parseable format)."""

    def __init__(
        self, file: str, *, expected: str | None, actual: str | None, check: str
    ) -> None:
        super().__init__(
            f"{file} failed the {check} check: expected {expected}, got {actual}",
            suggestions=("retry the download; if it persists the source is corrupt",),
        )
        self.file = file
        self.expected = expected
        self.actual = actual
        self.check = check


class ListingRefused(IntegrityError):
    """A repo listing that cannot be trusted (a path escaping the repo, NUL, an absurd
    size, a duplicate name, too many entries): nothing of it is fetched or written."""

    def __init__(self, repo: str, reason: str, *, entry: str | None = None) -> None:
        super().__init__(f"listing of {repo}", expected="a well-formed repo listing",
                         actual=reason, check="listing")
        self.repo = repo
        self.entry = entry
        self.suggestions = (
            "the endpoint's /api/models answer is malformed or hostile; check the endpoint "
            "(HF_ENDPOINT / TOKACQ_ENDPOINT) or the mirror in front of it",
            "or name the files explicitly (-f FILE / files=...), which needs no listing",
        )


class CacheWriteError(AcquisitionError):
    """The cache cannot be written (read-only, full disk, not a directory)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"cannot write to the cache at {path}: {reason}",
            suggestions=(
                "point cache_dir (or TOKACQ_CACHE_DIR) at a writable directory",
                "or use the 'cache-only' strategy on a read-only, pre-filled cache",
            ),
        )
        self.path = path
        self.reason = reason


class CacheKeyConflict(AcquisitionError):
    """A cache key already holds another repo's tokenizer: one key, one repo.

    Two repos sharing a key would replace each other's files on every acquisition, so
    the second one is refused before anything is downloaded or published.
    """

    def __init__(self, cache_key: str, *, cached_repo: str, requested_repo: str) -> None:
        super().__init__(
            f"cache key {cache_key!r} holds {cached_repo!r}; refusing to put "
            f"{requested_repo!r} there",
            suggestions=(
                f"give {requested_repo!r} a distinct cache_key (the default is "
                f"{requested_repo.replace('/', '--')!r})",
                f"or remove the cached one first: tokacq cache prune {cache_key}",
            ),
        )
        self.cache_key = cache_key
        self.cached_repo = cached_repo
        self.requested_repo = requested_repo


class LockTimeout(AcquisitionError):
    """Another process held the cache key's lock for longer than ``lock_timeout``."""

    def __init__(self, lock_file: Path, timeout_s: float, holder_pid: int | None = None) -> None:
        holder = f" held by pid {holder_pid}" if holder_pid else ""
        super().__init__(
            f"timed out after {timeout_s:g}s waiting for {lock_file}{holder}",
            suggestions=(
                "raise lock_timeout if downloads are slow",
                "check that the holder process is alive and making progress",
            ),
        )
        self.lock_file = lock_file
        self.timeout_s = timeout_s
        self.holder_pid = holder_pid


class NetworkError(AcquisitionError):
    """An HTTP exchange failed; ``status`` is None for connection-level failures."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        server_message: str | None = None,
        request_id: str | None = None,
        suggestions: Iterable[str] = ("check connectivity and the endpoint setting",),
    ) -> None:
        detail = f" (server: {server_message})" if server_message else ""
        rid = f" [request id {request_id}]" if request_id else ""
        code = f"HTTP {status}: " if status is not None else ""
        super().__init__(f"{code}{message}: {url}{detail}{rid}", suggestions=suggestions)
        self.url = url
        self.status = status
        self.server_message = server_message
        self.request_id = request_id


class ListingUnavailable(NetworkError):
    """The repo's file list cannot be had (a transport or mirror without the Hub's
    ``/api/models`` routes), so files cannot be discovered."""

    def __init__(self, repo: str, revision: str, *, reason: str, url: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(
            f"cannot list the files of {repo!r} at {revision!r}: {reason}",
            url=url or "(no request made)",
            status=status, suggestions=(
                "name the files explicitly (-f FILE / files=...): that needs no listing",
                "or point the endpoint at a Hub or mirror that serves /api/models"))
        self.repo = repo
        self.revision = revision


class RepositoryNotFound(NetworkError):
    """The repo does not exist, or is private and the token cannot see it."""


class AuthenticationFailed(NetworkError):
    """The server refused the token, or asks for one (HTTP 401/403 without a Hub error code
    that says more, such as "Invalid credentials in Authorization header")."""


class GatedRepository(NetworkError):
    """The repo requires accepting its licence (and a token) first."""


class RevisionNotFound(NetworkError):
    """The branch, tag or commit does not exist in the repo."""


class EntryNotFound(NetworkError):
    """The file does not exist at that revision."""

    def __init__(self, message: str, *, file: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.file = file


class RateLimited(NetworkError):
    """The server kept answering 429 after every retry."""

    def __init__(self, message: str, *, retry_after: float | None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
