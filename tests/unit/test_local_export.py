"""--local-dir: plain files, hard-linked when possible, copied otherwise, placed atomically;
an existing file of the user's is replaced only with a report naming it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tokenizer_acquisition import CacheWriteError
from tokenizer_acquisition.adapters import local_export
from tokenizer_acquisition.adapters.local_export import export_files


@pytest.fixture
def cached(tmp_path: Path) -> dict[str, Path]:
    snapshot = tmp_path / "cache" / "snap"
    (snapshot / "sub").mkdir(parents=True)
    files = {"tokenizer.json": b'{"t": 1}', "sub/chat.jinja": b"{{ x }}"}
    for name, data in files.items():
        (snapshot / name).write_bytes(data)
    return {name: snapshot / name for name in files}


def test_files_are_hard_linked_to_the_cache_on_one_filesystem(cached: dict[str, Path],
                                                               tmp_path: Path) -> None:
    """Same inode as the cache's file (no copy), plain files (no symlink), folders made."""
    out = tmp_path / "out"
    done = export_files(cached, out)
    assert done.linked == 2 and done.replaced == ()
    for name, source in cached.items():
        target = out / name
        assert done.files[name] == target and not target.is_symlink()
        assert os.path.samefile(target, source) and target.read_bytes() == source.read_bytes()
    assert not list(out.rglob("*.tokacq-tmp"))


def test_a_second_export_leaves_linked_files_alone(cached: dict[str, Path],
                                                   tmp_path: Path) -> None:
    """Running the same export again changes nothing and reports nothing."""
    out = tmp_path / "out"
    export_files(cached, out)
    inode = (out / "tokenizer.json").stat().st_ino
    again = export_files(cached, out)
    assert again.replaced == () and again.linked == 2
    assert (out / "tokenizer.json").stat().st_ino == inode


def test_files_are_copied_when_a_link_is_impossible(cached: dict[str, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Another filesystem (EXDEV) or a filesystem without links: a copy, same bytes."""
    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(local_export.os, "link", no_link)
    out = tmp_path / "out"
    done = export_files(cached, out)
    assert done.linked == 0
    for name, source in cached.items():
        assert not os.path.samefile(out / name, source)
        assert (out / name).read_bytes() == source.read_bytes()


def test_an_unexpected_link_error_is_a_cache_write_error_and_leaves_no_temporary(
        cached: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(src: object, dst: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(local_export.os, "link", broken)
    out = tmp_path / "out"
    with pytest.raises(CacheWriteError, match="Input/output error"):
        export_files(cached, out)
    assert not list(out.rglob("*.tokacq-tmp"))


def test_a_failed_rename_keeps_the_users_file_whole(cached: dict[str, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Atomic: the file is placed by one rename; when it fails, the user's file is as it
    was (never half-written) and the temporary is removed."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "tokenizer.json").write_bytes(b"mine")

    def refuse(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(local_export.os, "replace", refuse)
    with pytest.raises(CacheWriteError):
        export_files(cached, out)
    assert (out / "tokenizer.json").read_bytes() == b"mine"
    assert not list(out.rglob("*.tokacq-tmp"))


def test_an_existing_user_file_is_replaced_and_named(cached: dict[str, Path],
                                                     tmp_path: Path) -> None:
    """A different file under a name of the set is replaced (as hf download --local-dir
    does) and reported in ``replaced``; an identical copy is relinked silently; files
    outside the set are never touched."""
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "tokenizer.json").write_bytes(b"my own edits")
    (out / "sub" / "chat.jinja").write_bytes(cached["sub/chat.jinja"].read_bytes())
    (out / "notes.txt").write_bytes(b"keep me")
    done = export_files(cached, out)
    assert done.replaced == ("tokenizer.json",)
    assert (out / "tokenizer.json").read_bytes() == cached["tokenizer.json"].read_bytes()
    assert os.path.samefile(out / "sub" / "chat.jinja", cached["sub/chat.jinja"])
    assert (out / "notes.txt").read_bytes() == b"keep me"


def test_a_directory_in_the_way_is_a_cache_write_error(cached: dict[str, Path],
                                                       tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "tokenizer.json").mkdir(parents=True)
    (out / "tokenizer.json" / "keep").write_bytes(b"x")
    with pytest.raises(CacheWriteError):
        export_files(cached, out)
    assert (out / "tokenizer.json" / "keep").read_bytes() == b"x"


def test_a_symlink_leading_outside_the_directory_is_refused(cached: dict[str, Path],
                                                            tmp_path: Path) -> None:
    """A link in DIR pointing elsewhere is not followed to write outside DIR."""
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.json"
    victim.write_bytes(b"precious")
    (out / "tokenizer.json").symlink_to(victim)
    with pytest.raises(CacheWriteError, match="outside"):
        export_files(cached, out)
    assert victim.read_bytes() == b"precious"
