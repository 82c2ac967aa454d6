"""The default cache key: documented, readable, always a valid key, unique per repo+revision."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from tokenizer_acquisition.domain.cache_key import MAX_KEY, default_cache_key
from tokenizer_acquisition.domain.errors import InvalidRequest
from tokenizer_acquisition.domain.request import TokenizerDownloadInfo


def test_main_is_repo_with_double_dash() -> None:
    """org/name at main -> org--name."""
    assert default_cache_key("org/name") == "org--name"
    assert default_cache_key("gpt2") == "gpt2"


def test_other_revisions_are_appended() -> None:
    """A revision other than main is appended after '--', unsafe characters as '_'."""
    assert default_cache_key("org/name", "v1.0") == "org--name--v1.0"
    assert default_cache_key("org/name", "refs/pr/1") == "org--name--refs_pr_1"


def test_key_must_start_with_a_letter_or_digit() -> None:
    """Repos starting with '_' get a 'repo-' prefix."""
    assert default_cache_key("_org/x") == "repo-_org--x"


def test_long_keys_are_cut_and_stay_unique() -> None:
    """Keys longer than 128 characters end with a hash of repo and revision."""
    a = default_cache_key("org/" + "n" * 96, "r" * 60)
    b = default_cache_key("org/" + "n" * 96, "r" * 59 + "s")
    assert len(a) == MAX_KEY and a != b


@given(st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_.]{0,20})/[A-Za-z0-9]([A-Za-z0-9_]{0,90})",
                     fullmatch=True),
       st.text(min_size=1, max_size=200).filter(lambda r: "\x00" not in r and "\\" not in r
                                                and ".." not in r.split("/")))
def test_default_key_is_always_a_valid_cache_key(repo: str, revision: str) -> None:
    """Whatever the repo and revision, the key passes the request's own validation."""
    try:
        TokenizerDownloadInfo(repo, "k", ("tokenizer.json",))
    except InvalidRequest:
        assume(False)
    TokenizerDownloadInfo(repo, default_cache_key(repo, revision), ("tokenizer.json",))
