"""Lock files: TOML in and out, validation as ConfigurationError, requests pinned to commits."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenizer_acquisition.domain.cache_key import default_cache_key
from tokenizer_acquisition.domain.errors import ConfigurationError
from tokenizer_acquisition.domain.lockfile import LockEntry, LockFile, toml_string

REPO = "sentence-transformers/all-MiniLM-L6-v2"
COMMIT = "a" * 40
OTHER = "b" * 40
SHA_A = "1" * 64
SHA_B = "2" * 64


def entry(file: str = "tokenizer.json", sha: str = SHA_A, **kw: object) -> LockEntry:
    values: dict[str, object] = {"repo": REPO, "revision": "main", "commit": COMMIT,
                                 "file": file, "size": 10, "sha256": sha}
    values.update(kw)
    return LockEntry(**values)  # type: ignore[arg-type]


LOCK = LockFile((entry(), entry("vocab.txt", SHA_B, size=20),
                 entry(repo="org/other", revision="v1", commit=OTHER)))


def test_to_toml_round_trips_through_parse() -> None:
    """Formatting then parsing gives back the same entries."""
    again = LockFile.parse(LOCK.to_toml())
    assert set(again.entries) == set(LOCK.entries)


def test_to_toml_is_valid_toml_with_the_documented_fields() -> None:
    """The text is TOML: version 1 and one [[entry]] per file with six fields."""
    doc = tomllib.loads(LOCK.to_toml())
    assert doc["version"] == 1
    assert len(doc["entry"]) == 3
    assert set(doc["entry"][0]) == {"repo", "revision", "commit", "file", "size", "sha256"}


def test_to_toml_is_sorted_for_stable_diffs() -> None:
    """Entry order in the input does not change the text."""
    reversed_lock = LockFile(tuple(reversed(LOCK.entries)))
    assert reversed_lock.to_toml() == LOCK.to_toml()


def test_requests_pin_the_commit_and_every_hash() -> None:
    """One request per repo and revision: revision = locked commit, sha256 = locked hashes."""
    requests = {r.repo: r for r in LOCK.requests()}
    main = requests[REPO]
    assert main.revision == COMMIT and main.is_pinned_commit
    assert main.files == ("tokenizer.json", "vocab.txt")
    assert dict(main.sha256 or {}) == {"tokenizer.json": SHA_A, "vocab.txt": SHA_B}
    assert main.cache_key == default_cache_key(REPO, "main")
    assert requests["org/other"].cache_key == "org--other--v1"


def test_requests_take_expected_vocab_per_repo() -> None:
    """expected_vocab maps a repo to its vocabulary size."""
    requests = {r.repo: r for r in LOCK.requests({REPO: 30522})}
    assert requests[REPO].expected_vocab == 30522
    assert requests["org/other"].expected_vocab is None


def test_uppercase_hex_is_normalised() -> None:
    """Hashes and commits written in upper case parse to lower case."""
    text = LOCK.to_toml().replace(SHA_A, SHA_A.upper()).replace("a" * 40, "A" * 40)
    parsed = LockFile.parse(text)
    assert {e.commit for e in parsed.entries} == {COMMIT, OTHER}
    assert SHA_A in {e.sha256 for e in parsed.entries}


@pytest.mark.parametrize(("mutate", "key"), [
    (lambda t: t + "\n[broken", "lock"),
    (lambda t: t.replace("version = 1", "version = 2"), "version"),
    (lambda t: t.replace(f'sha256 = "{SHA_A}"', 'sha256 = "xyz"'), "entry[0].sha256"),
    (lambda t: t.replace(f'commit = "{OTHER}"', 'commit = "main"', 1), "entry[0].commit"),
    (lambda t: t.replace("size = 20", "size = -1"), "entry[2].size"),
    (lambda t: t.replace("size = 20", 'size = "10"'), "entry[2].size"),
    (lambda t: t.replace("size = 20", "sizes = 10"), "entry[2].sizes"),
    (lambda t: t.replace("version = 1", "version = 1\nextra = 1"), "extra"),
])
def test_bad_lock_files_name_the_key(mutate: object, key: str) -> None:
    """Invalid TOML, versions, hashes, commits, sizes and keys raise ConfigurationError."""
    text = mutate(LockFile((entry(), entry("vocab.txt", SHA_B, size=20),  # type: ignore[operator]
                                     entry(repo="org/other", revision="v1", commit=OTHER)
                                     )).to_toml())
    with pytest.raises(ConfigurationError) as err:
        LockFile.parse(text, source="lock file x.lock")
    assert err.value.key == key
    assert err.value.source == "lock file x.lock"


def test_missing_field_is_rejected() -> None:
    """Every entry needs all six fields."""
    text = 'version = 1\n[[entry]]\nrepo = "a/b"\n'
    with pytest.raises(ConfigurationError) as err:
        LockFile.parse(text)
    assert err.value.key == "entry[0].revision"


def test_empty_lock_is_rejected() -> None:
    """A lock file without entries is a mistake, not a no-op."""
    with pytest.raises(ConfigurationError) as err:
        LockFile.parse("version = 1\n")
    assert err.value.key == "entry"


def test_duplicate_file_is_rejected() -> None:
    """A file appears once per repo and revision."""
    with pytest.raises(ConfigurationError, match="each file once"):
        LockFile((entry(), entry()))


def test_two_commits_for_one_revision_are_rejected() -> None:
    """All files of one repo and revision come from one commit."""
    with pytest.raises(ConfigurationError, match="one commit per repo"):
        LockFile((entry(), entry("vocab.txt", commit=OTHER)))


@pytest.mark.parametrize("bad", [{"repo": "not a repo"}, {"file": "../escape"},
                                 {"revision": "a/../b"}])
def test_invalid_repo_file_or_revision_is_a_configuration_error(bad: dict[str, str]) -> None:
    """Request validation failures surface as ConfigurationError, not InvalidRequest."""
    with pytest.raises(ConfigurationError):
        LockFile((entry(**bad),))


@given(st.text(max_size=40))
def test_toml_string_round_trips_any_text(value: str) -> None:
    """Quotes, backslashes, control characters and DEL survive tomllib."""
    assert tomllib.loads(f"v = {toml_string(value)}")["v"] == value
