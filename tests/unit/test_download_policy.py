"""Pure download rules: ETags, verification, retries, backoff, Retry-After, resume, errors."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenizer_acquisition.domain.download_policy import (
    Backoff,
    ContentRange,
    ResumeAction,
    RetryState,
    announced_total,
    is_retryable_status,
    parse_content_range,
    parse_ratelimit,
    parse_retry_after,
    resume_action,
    server_delay,
)
from tokenizer_acquisition.domain.errors import (
    AuthenticationFailed,
    EntryNotFound,
    GatedRepository,
    NetworkError,
    RateLimited,
    RepositoryNotFound,
    RevisionNotFound,
)
from tokenizer_acquisition.domain.hub_protocol import (
    EtagKind,
    RemoteFacts,
    classify_etag,
    error_for,
    normalize_etag,
    resolve_url,
)
from tokenizer_acquisition.domain.verification import (
    Digests,
    expected_for,
    git_blob_prefix,
    too_large,
    verify,
)

SHA256 = "a" * 64
SHA1 = "b" * 40
URL = "https://hub.example/org/m/resolve/main/tokenizer.json"


# -- protocol --------------------------------------------------------------------------------

def test_resolve_url_quotes_revision_and_file() -> None:
    """The revision is quoted as one segment; slashes in file paths stay."""
    url = resolve_url("https://hub/", "org/m", "refs/pr/1", "sub dir/tokenizer.json")
    assert url == "https://hub/org/m/resolve/refs%2Fpr%2F1/sub%20dir/tokenizer.json"


@pytest.mark.parametrize(("raw", "expected"), [
    ('"abc"', "abc"), ('W/"abc"', "abc"), ("abc", "abc"), (' "abc" ', "abc"),
    ('""', None), (None, None),
])
def test_normalize_etag_strips_weak_prefix_and_quotes(raw: str | None,
                                                      expected: str | None) -> None:
    """ETags compare without W/ and quotes, as the Hub's clients do."""
    assert normalize_etag(raw) == expected


@pytest.mark.parametrize(("etag", "kind"), [
    (SHA256, EtagKind.SHA256), (SHA256.upper(), EtagKind.SHA256), (SHA1, EtagKind.GIT_SHA1),
    ("opaque-123", EtagKind.OPAQUE), ("a" * 63, EtagKind.OPAQUE), (None, EtagKind.OPAQUE),
])
def test_classify_etag_by_shape(etag: str | None, kind: EtagKind) -> None:
    """64 hex digits are a sha256, 40 a git blob sha1, anything else is opaque."""
    assert classify_etag(etag) is kind


def test_facts_prefer_linked_headers_across_a_redirect() -> None:
    """X-Repo-Commit and X-Linked-* come from the Hub's hop; ETag/length from the body's."""
    hub = RemoteFacts.from_headers({"x-repo-commit": "c" * 40, "X-Linked-Etag": f'"{SHA256}"',
                                    "X-Linked-Size": "10", "ETag": '"pointer"'})
    cdn = RemoteFacts.from_headers({"ETag": f'"{SHA256}"', "Content-Length": "10"})
    merged = RemoteFacts().merged(hub).merged(cdn)
    assert (merged.commit, merged.identity, merged.linked_size) == ("c" * 40, SHA256, 10)
    assert merged.content_length == 10


def test_facts_identity_falls_back_to_etag() -> None:
    """Without X-Linked-Etag the file's identity is its ETag."""
    assert RemoteFacts.from_headers({"ETag": f'W/"{SHA1}"'}).identity == SHA1


# -- errors ----------------------------------------------------------------------------------

def _error(status: int | None, headers: dict[str, str], **kw: float) -> NetworkError:
    return error_for(status, headers, url=URL, file="tokenizer.json", repo="org/m",
                     revision="main", **kw)


@pytest.mark.parametrize(("status", "code", "cls"), [
    (404, "RepoNotFound", RepositoryNotFound),
    (401, "RepoNotFound", RepositoryNotFound),
    (401, None, AuthenticationFailed),
    (403, "GatedRepo", GatedRepository),
    (404, "RevisionNotFound", RevisionNotFound),
    (404, "EntryNotFound", EntryNotFound),
    (404, None, EntryNotFound),
    (429, None, RateLimited),
    (500, None, NetworkError),
    (403, None, AuthenticationFailed),
])
def test_error_mapping_by_status_and_code(status: int, code: str | None,
                                          cls: type[NetworkError]) -> None:
    """Status and X-Error-Code pick the typed error; the URL and status are kept."""
    headers = {"X-Error-Code": code} if code else {}
    error = _error(status, headers)
    assert type(error) is cls
    assert (error.url, error.status) == (URL, status)


def test_error_carries_server_message_and_request_id() -> None:
    """X-Error-Message and X-Request-Id reach the error and its message."""
    error = _error(500, {"X-Error-Message": "boom", "X-Request-Id": "r-1"})
    assert (error.server_message, error.request_id) == ("boom", "r-1")
    assert "boom" in str(error) and "r-1" in str(error)


def test_gated_error_suggests_licence_and_token() -> None:
    """A gated repo says to accept the licence and to set HF_TOKEN."""
    error = _error(403, {"X-Error-Code": "GatedRepo"})
    hints = " ".join(error.suggestions)
    assert "licence" in hints and "HF_TOKEN" in hints


def test_repo_not_found_suggests_id_and_token() -> None:
    """A missing repo suggests checking the id and a token for private repos."""
    hints = " ".join(_error(401, {"X-Error-Code": "RepoNotFound"}).suggestions)
    assert "org/m" in hints and "HF_TOKEN" in hints


def test_refused_token_is_an_authentication_failure_not_a_missing_repo() -> None:
    """A 401 that is not RepoNotFound ("Invalid credentials") says to fix the token."""
    error = _error(401, {"X-Error-Message": "Invalid credentials in Authorization header"})
    assert type(error) is AuthenticationFailed and error.status == 401
    assert error.server_message == "Invalid credentials in Authorization header"
    hints = " ".join(error.suggestions)
    assert "HF_TOKEN" in hints and "token_file" in hints and "repo id" not in hints


@pytest.mark.parametrize("code", ["GatedRepo", "RepoNotFound"])
def test_a_typed_401_or_403_keeps_its_own_error(code: str) -> None:
    """X-Error-Code still wins over the status for gated and missing repos."""
    assert not isinstance(_error(403, {"X-Error-Code": code}), AuthenticationFailed)


def test_entry_not_found_names_the_file() -> None:
    """EntryNotFound carries the file."""
    error = _error(404, {"X-Error-Code": "EntryNotFound"})
    assert isinstance(error, EntryNotFound) and error.file == "tokenizer.json"


def test_rate_limited_carries_retry_after() -> None:
    """RateLimited keeps the server's last wait hint."""
    error = _error(429, {}, retry_after=7.0)
    assert isinstance(error, RateLimited) and error.retry_after == 7.0


# -- verification ----------------------------------------------------------------------------

def test_git_blob_sha1_matches_git() -> None:
    """The blob prefix reproduces `git hash-object`."""
    content = b"hello\n"
    digest = hashlib.sha1(git_blob_prefix(len(content)) + content).hexdigest()
    assert digest == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_expected_for_maps_etag_kinds() -> None:
    """sha256 ETags check sha256, git ETags check sha1, opaque ones only the size."""
    assert expected_for(SHA256, 5).sha256 == SHA256
    assert expected_for(SHA1, 5).git_sha1 == SHA1
    opaque = expected_for("opaque-1", 5)
    assert (opaque.sha256, opaque.git_sha1, opaque.size) == (None, None, 5)


@pytest.mark.parametrize(("expected_kw", "actual_kw", "check"), [
    ({"size": 5}, {"size": 4}, "size"),
    ({"sha256": SHA256}, {"sha256": "0" * 64}, "sha256"),
    ({"git_sha1": SHA1}, {"git_sha1": "0" * 40}, "git-sha1"),
    ({"pin": SHA256}, {"sha256": "0" * 64}, "sha256 pin"),
])
def test_verify_reports_the_failed_check(expected_kw: dict[str, object],
                                         actual_kw: dict[str, object], check: str) -> None:
    """Each mismatch is an IntegrityError naming its check."""
    expected = expected_for(None, None)
    expected = type(expected)(**{**vars(expected), **expected_kw})
    actual = Digests(**{"size": 5, "sha256": SHA256, "git_sha1": SHA1, **actual_kw})
    failure = verify("f", expected, actual)
    assert failure is not None and failure.check == check and failure.file == "f"


def test_verify_passes_matching_file() -> None:
    """A file matching every known expectation verifies."""
    expected = expected_for(SHA256, 5, pin=SHA256.upper())
    assert verify("f", expected, Digests(size=5, sha256=SHA256)) is None


def test_too_large_only_above_the_limit() -> None:
    """max_file_bytes allows the limit itself and rejects one byte more."""
    assert too_large("f", 10, 10) is None
    failure = too_large("f", 11, 10)
    assert failure is not None and failure.check == "max_file_bytes"


# -- retries ---------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_retry(status: int) -> None:
    """Timeouts, rate limits and server trouble are retried."""
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 416, 501])
def test_other_statuses_do_not_retry(status: int) -> None:
    """Other 4xx (and 501) fail at once."""
    assert not is_retryable_status(status)


@given(failures=st.integers(min_value=1, max_value=200),
       r=st.floats(min_value=0.0, max_value=1.0))
def test_backoff_full_jitter_is_capped(failures: int, r: float) -> None:
    """Every delay lies in [0, min(cap, base * 2**(n-1))]."""
    backoff = Backoff(base=0.5, cap=8.0)
    delay = backoff.delay(failures, lambda: r)
    assert 0.0 <= delay <= min(8.0, 0.5 * 2 ** (failures - 1))


def test_backoff_uses_the_injected_random() -> None:
    """Full jitter scales the exponential ceiling by the random draw."""
    assert Backoff(base=1.0, cap=100.0).delay(3, lambda: 0.5) == 2.0


def test_retry_state_gives_up_after_max_retries_without_progress() -> None:
    """max_retries stalled attempts are retried; the next one gives up."""
    state = RetryState(2, Backoff(base=1.0, cap=1.0), lambda: 1.0)
    assert state.next_delay(progressed=False) == 1.0
    assert state.next_delay(progressed=False) == 1.0
    assert state.next_delay(progressed=False) is None


def test_retry_state_progress_resets_the_count() -> None:
    """An attempt that wrote bytes does not count against max_retries."""
    state = RetryState(1, Backoff(base=1.0, cap=1.0), lambda: 1.0)
    for _ in range(5):
        assert state.next_delay(progressed=False) is not None
        assert state.next_delay(progressed=True) is not None


def test_retry_state_honours_server_hint_within_bound() -> None:
    """A server's wait hint replaces backoff; one beyond max_server_delay gives up."""
    state = RetryState(5, Backoff(max_server_delay=10.0), lambda: 0.0)
    assert state.next_delay(progressed=False, hint=3.0) == 3.0
    assert state.next_delay(progressed=False, hint=11.0) is None


def test_retry_after_seconds() -> None:
    """Retry-After as delay-seconds."""
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-1") is None
    assert parse_retry_after("soon") is None


def test_retry_after_http_date() -> None:
    """Retry-After as an HTTP-date is the time left until then (never negative)."""
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    later = format_datetime(datetime(2025, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(later, now=now) == 30.0
    assert parse_retry_after(later, now=now + 60) == 0.0


def test_ratelimit_header_waits_only_when_exhausted() -> None:
    """The Hub's RateLimit header counts only when no requests remain."""
    assert parse_ratelimit('"api";r=0;t=55') == 55.0
    assert parse_ratelimit('"api";r=3;t=55') is None
    assert parse_ratelimit("garbage") is None


def test_server_delay_only_for_429_and_503() -> None:
    """Wait hints are honoured on 429/503, Retry-After before RateLimit."""
    headers = {"Retry-After": "2", "RateLimit": '"api";r=0;t=9'}
    assert server_delay(429, headers) == 2.0
    assert server_delay(503, {"RateLimit": '"api";r=0;t=9'}) == 9.0
    assert server_delay(500, headers) is None


# -- resume ----------------------------------------------------------------------------------

def test_parse_content_range_forms() -> None:
    """Both `bytes a-b/n` and `bytes */n` parse; junk does not."""
    assert parse_content_range("bytes 5-9/10") == ContentRange(5, 9, 10)
    assert parse_content_range("bytes */10") == ContentRange(None, None, 10)
    assert parse_content_range("bytes 5-9/*") == ContentRange(5, 9, None)
    assert parse_content_range("items 1-2/3") is None


def _resume(status: int, start: int | None = 5, offset: int = 5, stored: str | None = "e",
            identity: str | None = "e") -> ResumeAction:
    cr = ContentRange(start, 9, 10) if start is not None else None
    return resume_action(status, offset=offset, content_range=cr, stored_identity=stored,
                         identity=identity)


def test_resume_appends_on_matching_206() -> None:
    """206 starting where the partial ends, same identity: append."""
    assert _resume(206) is ResumeAction.APPEND


def test_resume_truncates_on_200() -> None:
    """200 means the full body follows: start the partial over with it."""
    assert _resume(200) is ResumeAction.TRUNCATE


@pytest.mark.parametrize("kwargs", [
    {"start": 0}, {"start": None}, {"identity": "other"}, {"stored": None}, {"offset": 0},
])
def test_resume_restarts_on_unusable_206(kwargs: dict[str, object]) -> None:
    """Wrong start, no Content-Range, a changed file or no validator: never append."""
    assert _resume(206, **kwargs) is ResumeAction.RESTART  # type: ignore[arg-type]


def test_resume_restarts_on_416() -> None:
    """416: discard the partial and start over."""
    assert _resume(416) is ResumeAction.RESTART


def test_announced_total_prefers_linked_size_then_range_total() -> None:
    """The whole file's size: X-Linked-Size, else Content-Range's total, else the length."""
    assert announced_total(206, 99, 5, ContentRange(5, 9, 10)) == 99
    assert announced_total(206, None, 5, ContentRange(5, 9, 10)) == 10
    assert announced_total(200, None, 10, None) == 10
