"""TokenizerDownloadInfo's discovery fields: files=None, include/exclude, optional_files,
refresh, ``resolved``, and the Selection a snapshot manifest records."""

from __future__ import annotations

import json

import pytest

from tokenizer_acquisition import InvalidRequest, TokenizerDownloadInfo
from tokenizer_acquisition.domain.discovery import Selection
from tokenizer_acquisition.domain.manifest import ManifestEntry, ManifestError, Snapshot

SHA = "ab" * 32
COMMIT = "c" * 40


def make(**changes: object) -> TokenizerDownloadInfo:
    fields: dict[str, object] = {"repo": "org/name", "cache_key": "name"}
    fields.update(changes)
    return TokenizerDownloadInfo(**fields)  # type: ignore[arg-type]


def test_files_default_to_none_which_discovers() -> None:
    """No files: a discovered request, no primary yet, needing a listing, the preset."""
    info = make()
    assert info.discovers and info.needs_listing and info.files == () and info.primary == ""
    assert info.selection == Selection(preset="tokenizer")
    assert "files=None" in repr(info)
    explicit = make(files=["tokenizer.json"])
    assert not explicit.discovers and not explicit.needs_listing
    assert explicit.selection.preset is None and explicit != info


def test_include_and_optional_files_need_a_listing_even_with_explicit_files() -> None:
    info = make(files=["vocab.txt"], include="*.py", optional_files=["extra.txt"])
    assert not info.discovers and info.needs_listing
    assert info.include == ("*.py",) and info.optional_files == ("extra.txt",)
    assert make(files=[], include=["*.json"]).files == ()
    assert make(files=[], optional_files=["a.txt"]).needs_listing


def test_new_fields_are_part_of_identity_and_hash() -> None:
    """Two requests differing only by include, exclude, optional files or refresh are
    different requests (and different dict keys)."""
    base = make()
    variants = [make(include=["*.py"]), make(exclude=["config.json"]),
                make(optional_files=["a"]), make(refresh=True)]
    assert len({base, *variants}) == 5
    assert make(include=["*.py"]) == make(include=("*.py",))
    assert hash(make(include=["*.py"])) == hash(make(include=("*.py",)))
    assert "refresh=True" in repr(make(refresh=True))


@pytest.mark.parametrize(("changes", "field"), [
    ({"files": []}, "files"),
    ({"files": "tokenizer.json"}, "files"),
    ({"include": [""]}, "include"),
    ({"include": [f"p{i}" for i in range(65)]}, "include"),
    ({"exclude": ["a\x00"]}, "exclude"),
    ({"exclude": 3}, "exclude"),
    ({"optional_files": "a.txt"}, "optional_files"),
    ({"optional_files": 3}, "optional_files"),
    ({"optional_files": ["../x"]}, "files"),
    ({"optional_files": ["/abs"]}, "files"),
    ({"sha256": {"../x": SHA}}, "files"),
    ({"sha256": {"vocab.txt": "zz"}}, "sha256"),
], ids=repr)
def test_invalid_discovery_fields_fail_when_the_request_is_built(
        changes: dict[str, object], field: str) -> None:
    """Every new field is validated before any I/O, with the field named."""
    with pytest.raises(InvalidRequest) as caught:
        make(**changes)
    assert caught.value.field == field


def test_expected_vocab_and_pins_wait_for_the_resolved_set_when_discovering() -> None:
    """A discovered request cannot know yet whether a countable file or a pinned file
    will be selected: both are checked by ``resolved``."""
    info = make(expected_vocab=30522, sha256={"tokenizer.json": SHA.upper()})
    assert info.sha256 == {"tokenizer.json": SHA}
    with pytest.raises(InvalidRequest):
        make(files=["config.json"], expected_vocab=5)  # nothing countable, known at once


def test_resolved_is_the_explicit_request_for_the_selected_files() -> None:
    """``resolved`` keeps key, revision, vocab, pins and refresh; drops the patterns."""
    info = make(revision="v1", expected_vocab=3, sha256={"vocab.txt": SHA},
                include=["*.py"], exclude=["x"], refresh=True)
    done = info.resolved(["vocab.txt", "config.json"])
    assert done.files == ("vocab.txt", "config.json") and not done.discovers
    assert (done.repo, done.cache_key, done.revision, done.expected_vocab) == \
        ("org/name", "name", "v1", 3)
    assert done.sha256 == {"vocab.txt": SHA} and done.refresh
    assert done.include == () and done.exclude == () and done.primary == "vocab.txt"


def test_resolved_refuses_pins_and_vocab_the_selection_cannot_honour() -> None:
    with pytest.raises(InvalidRequest) as caught:
        make(sha256={"tokenizer.model": SHA}).resolved(["vocab.txt"])
    assert caught.value.field == "sha256"
    with pytest.raises(InvalidRequest) as caught:
        make(expected_vocab=3).resolved(["config.json"])
    assert caught.value.field == "expected_vocab"


# -- the selection in the snapshot manifest --------------------------------------------------

def snapshot(selection: Selection | None) -> Snapshot:
    return Snapshot(cache_key="name", repo="org/name", revision="main", commit=COMMIT,
                    files={"vocab.txt": ManifestEntry(size=3, sha256=SHA)}, created_at=1.0,
                    selection=selection)


def test_the_selection_round_trips_through_the_manifest() -> None:
    """A discovered set records how it was chosen; an explicit set records nothing."""
    recorded = make(include=["*.py"], exclude=["onnx/"], optional_files=["a"]).selection
    back = Snapshot.from_json(snapshot(recorded).to_json())
    assert back.selection == recorded and back.files == snapshot(recorded).files
    plain = snapshot(None).to_json()
    assert "selection" not in json.loads(plain)
    assert Snapshot.from_json(plain).selection is None


@pytest.mark.parametrize("bad", [
    "tokenizer", [], 3, {"files": "vocab.txt"}, {"include": [1]}, {"exclude": {}},
    {"optional_files": [None]}, {"preset": "everything"}, {"preset": []},
], ids=repr)
def test_a_bad_selection_makes_the_manifest_unreadable(bad: object) -> None:
    """Strict: a selection of the wrong shape is ManifestError, never another exception
    and never a silently different selection."""
    doc = json.loads(snapshot(Selection()).to_json())
    doc["selection"] = bad
    with pytest.raises(ManifestError):
        Snapshot.from_json(json.dumps(doc).encode())


def test_a_null_selection_reads_as_no_selection() -> None:
    doc = json.loads(snapshot(Selection()).to_json())
    doc["selection"] = None
    assert Snapshot.from_json(json.dumps(doc).encode()).selection is None
