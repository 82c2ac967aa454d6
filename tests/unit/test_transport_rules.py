"""The transport's pure rules: refused answers, length needs, splices, partial names."""

from __future__ import annotations

from pathlib import Path

from tokenizer_acquisition.adapters import partial_file, staging
from tokenizer_acquisition.adapters.partial_file import Validator, sidecar_path
from tokenizer_acquisition.domain.download_policy import (
    ContentRange,
    ResumeAction,
    resume_action,
)
from tokenizer_acquisition.domain.verification import length_failure, needs_length, refusal

SHA = "a" * 64
OPAQUE = "opaque-123"


def test_identity_encoding_is_accepted_and_others_refused() -> None:
    """identity (or none) passes; gzip, deflate, br are IntegrityError(content-encoding)."""
    for ok in (None, "", "identity", " Identity "):
        assert refusal("f", content_encoding=ok, identity=SHA, content_type=None,
                       pinned=False) is None
    for bad in ("gzip", "deflate", "br", "gzip, identity"):
        error = refusal("f", content_encoding=bad, identity=SHA, content_type=None,
                        pinned=True)
        assert error is not None and error.check == "content-encoding"


def test_missing_validator_is_refused_unless_pinned() -> None:
    """No ETag and no pin: IntegrityError(validator) naming the Content-Type; a pin allows it."""
    error = refusal("f", content_encoding=None, identity=None, content_type="text/html",
                    pinned=False)
    assert error is not None and error.check == "validator" and "text/html" in str(error)
    assert refusal("f", content_encoding=None, identity=None, content_type=None,
                   pinned=True) is None


def test_only_unpinned_opaque_etags_need_a_length() -> None:
    """Content hashes verify themselves; a pin verifies anything; opaque alone needs a size."""
    assert needs_length(OPAQUE, pinned=False)
    assert not needs_length(OPAQUE, pinned=True)
    assert not needs_length(SHA, pinned=False) and not needs_length("b" * 40, pinned=False)


def test_length_failures() -> None:
    """No announced total or an empty body fails; an announced, non-empty one passes."""
    assert length_failure("f", total=None) is not None
    assert length_failure("f", total=0, received=0) is not None
    assert length_failure("f", total=10) is None
    assert length_failure("f", total=10, received=10) is None


def test_206_with_another_total_is_a_restart() -> None:
    """Same identity but a different Content-Range total: a splice, never appended."""
    args = {"offset": 5, "stored_identity": OPAQUE, "identity": OPAQUE}
    assert resume_action(206, content_range=ContentRange(5, 9, 10), stored_total=10,
                         **args) is ResumeAction.APPEND  # type: ignore[arg-type]
    assert resume_action(206, content_range=ContentRange(5, 10, 11), stored_total=10,
                         **args) is ResumeAction.RESTART  # type: ignore[arg-type]


def test_partial_names_stay_under_name_max() -> None:
    """Long or non-ASCII file names are hashed; a partial with its sidecar fits 255 bytes."""
    for name in ("分" * 21, "a" * 200 + ".json", "x" * 255):
        path = staging.fresh_path(Path("/d"), name, "0" * 16)
        sidecar = sidecar_path(path).name + ".tmp"
        assert len(sidecar.encode()) <= 255, sidecar
    assert staging.stem("tokenizer.json") == "tokenizer.json"
    assert staging.stem("分" * 21) != staging.stem("分" * 22)


def _partial(tmp_path: Path, size: int, total: int | None) -> Path:
    staged = tmp_path / "part"
    staged.write_bytes(b"x" * size)
    partial_file.save_validator(staged, Validator(identity=SHA, etag=SHA, total=total, url="u"))
    return staged


def test_complete_partial_is_cut_by_one_byte(tmp_path: Path) -> None:
    """A partial as long as its total resumes at total-1, so one byte confirms it."""
    staged = _partial(tmp_path, 10, 10)
    with partial_file.held(staged):
        offset, validator = partial_file.load(staged)
    assert offset == 9 and validator is not None and staged.stat().st_size == 9


def test_partial_longer_than_its_total_is_discarded(tmp_path: Path) -> None:
    """More bytes than the file has: nothing of it can be kept."""
    staged = _partial(tmp_path, 11, 10)
    with partial_file.held(staged):
        assert partial_file.load(staged) == (0, None)
    assert not sidecar_path(staged).exists()
