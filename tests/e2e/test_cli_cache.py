"""``tokacq cache`` on the blobs/snapshots layout: ownership, confirmation, dry runs, and
odd environments (a cache_dir that is a file; unreadable bookkeeping, as a real non-root
user)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.conftest import TOKACQ, Cli, Run, clean_env
from tokenizer_acquisition.adapters.filesystem_cache import FileSystemCache
from tokenizer_acquisition.domain.manifest import ManifestEntry, Snapshot

pytestmark = pytest.mark.timeout(60)
COMMIT = "c" * 40
NOBODY = 65534


def publish(root: Path, key: str, files: dict[str, bytes]) -> FileSystemCache:
    cache = FileSystemCache(root)
    cache.ensure_writable()
    entries = {}
    for name, data in files.items():
        staged = cache.staging_path(key, name, "t")
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        cache.store_blob(staged, digest)
        entries[name] = ManifestEntry(size=len(data), sha256=digest, commit=COMMIT,
                                      revision="main", repo="org/name", fetched_at=time.time())
    cache.publish(Snapshot(key, "org/name", "main", COMMIT, entries, created_at=time.time()))
    return cache


def assert_typed(run: Run, code: int, *needles: str) -> None:
    assert run.code == code, (run.code, run.out, run.err)
    assert "Traceback" not in run.err and "internal error" not in run.err
    assert "PermissionError" not in run.err
    assert run.err.startswith("tokacq: error:"), run.err
    for needle in needles:
        assert needle in run.err, run.err


@pytest.fixture
def filled(cli: Cli) -> Cli:
    publish(cli.cache, "org--name", {"tokenizer.json": b'{"m": 1}', "vocab.txt": b"a\nb\n"})
    (cli.cache / "My Photos").mkdir()
    (cli.cache / "My Photos" / "cat.jpg").write_bytes(b"jpg")
    (cli.cache / "manual").mkdir()
    (cli.cache / "manual" / "tokenizer.json").write_text("{}")
    return cli


def test_list_shows_kind_origin_and_one_key_file_by_file(filled: Cli) -> None:
    """list: managed or by hand, repo, commit; list KEY: each file's size and sha256."""
    table = filled("cache", "list")
    assert table.code == 0
    assert any(line.split()[:2] == ["manual", "by"] for line in table.out.splitlines())
    assert "My Photos" not in table.out
    detail = filled("cache", "list", "org--name")
    assert detail.code == 0 and hashlib.sha256(b"a\nb\n").hexdigest() in detail.out
    assert f"commit:    {COMMIT}" in detail.out
    doc = filled("cache", "list", "--json").json()
    kinds = {k["key"]: (k["kind"], k["managed"]) for k in doc["keys"]}
    assert kinds == {"org--name": ("managed", True), "manual": ("unmanaged", False)}


def test_a_hostile_manifest_is_listed_with_a_problem(filled: Cli) -> None:
    """Issue 10 items 3 and 5: 200,000-level nesting or a wrong type: exit 0 for list
    with the problem shown; verify exits 6 naming the manifest."""
    cache = FileSystemCache(filled.cache)
    state = cache.state("org--name")
    manifest = state.directory.with_name(f"{state.sid}.json")
    for hostile in (b"[" * 200_000 + b"]" * 200_000,
                    manifest.read_bytes().replace(b'"commit": "c', b'"commit": 1, "x": "c', 1)):
        manifest.write_bytes(hostile)
        run = filled("cache", "list")
        assert run.code == 0 and "problem: org--name:" in run.out, run.err
        verify = filled("cache", "verify", "org--name")
        assert verify.code == 6 and "CORRUPT    org--name/(manifest)" in verify.out


def test_verify_lists_hand_placed_files_as_unverified_and_passes(filled: Cli) -> None:
    """Nothing to verify against is reported, and says so, but does not fail."""
    run = filled("cache", "verify")
    assert run.code == 0, run.err
    assert "unverified manual/tokenizer.json" in run.out and "1 unverified" in run.err


def test_prune_all_needs_yes_without_a_terminal(filled: Cli) -> None:
    """No TTY and no --yes: exit 2 naming --yes, nothing removed; --yes removes only
    managed keys."""
    assert_typed(filled("cache", "prune", "--all"), 2, "--yes")
    assert (filled.cache / "org--name" / "tokenizer.json").exists()
    run = filled("cache", "prune", "--all", "-y", "--json")
    assert run.code == 0 and run.json()["keys"] == ["org--name"]
    assert run.json()["kept"] == ["manual"]
    assert (filled.cache / "My Photos" / "cat.jpg").exists()
    assert (filled.cache / "manual" / "tokenizer.json").exists()
    assert not os.path.lexists(filled.cache / "org--name")


def test_prune_dry_run_prints_what_would_go(filled: Cli) -> None:
    """--dry-run names every path and removes none."""
    before = sorted(p.as_posix() for p in filled.cache.rglob("*"))
    run = filled("cache", "prune", "--all", "--include-unmanaged", "--dry-run")
    assert run.code == 0, run.err
    assert f"would remove {filled.cache / 'org--name'}" in run.out
    assert f"would remove {filled.cache / 'manual'}" in run.out
    assert "My Photos" not in run.out
    assert sorted(p.as_posix() for p in filled.cache.rglob("*")) == before


def test_prune_of_a_hand_placed_key_needs_include_unmanaged(filled: Cli) -> None:
    """KEY placed by hand: exit 2 without the flag; with it the directory goes."""
    assert_typed(filled("cache", "prune", "manual"), 2, "placed by hand")
    assert (filled.cache / "manual" / "tokenizer.json").exists()
    run = filled("cache", "prune", "manual", "--include-unmanaged")
    assert run.code == 0 and "placed by hand" in run.out
    assert not (filled.cache / "manual").exists()


def test_a_cache_dir_that_is_a_file_exits_8(cli: Cli) -> None:
    """Issue 10 item 20: not an empty cache with exit 0, but CacheWriteError."""
    blocker = cli.cache.parent / "a-file"
    blocker.write_text("x")
    for command in (["list"], ["verify"], ["prune", "k"], ["prune", "--all", "-y"],
                    ["prune", "--partials"], ["path", "k"]):
        assert_typed(cli("cache", *command, "--cache-dir", str(blocker)), 8,
                     "not a directory")
    assert blocker.read_text() == "x"


def test_a_symlinked_bookkeeping_is_refused(filled: Cli) -> None:
    """Issue 9 item 11: prune never deletes through a '.tokacq' link."""
    bookkeeping = filled.cache / ".tokacq"
    elsewhere = filled.cache.parent / "elsewhere"
    bookkeeping.rename(elsewhere)
    bookkeeping.symlink_to(elsewhere)
    before = sorted(elsewhere.rglob("*"))
    assert_typed(filled("cache", "prune", "--all", "-y"), 8, str(bookkeeping), "symlink")
    assert sorted(elsewhere.rglob("*")) == before


# -- as a real non-root user -------------------------------------------------------------------

SETPRIV = shutil.which("setpriv")
needs_root = pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None,
                                reason="needs root and setpriv to run as another user")


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Path]:
    """A directory every user can reach (pytest's own tmp is 0700 root)."""
    base = Path(tempfile.mkdtemp(prefix="tokacq-e2e-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        for path in [base, *base.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(base, ignore_errors=True)


def as_nobody(base: Path, *args: str) -> Run:
    env = clean_env(base)
    env.update(HOME=str(base), TOKACQ_LOCK_TIMEOUT="2")
    done = subprocess.run([str(SETPRIV), f"--reuid={NOBODY}", f"--regid={NOBODY}",
                           "--clear-groups", str(TOKACQ), *args,
                           "--cache-dir", str(base / "cache")],
                          env=env, capture_output=True, text=True, timeout=60)
    return Run(done.returncode, done.stdout, done.stderr)


@needs_root
def test_unreadable_bookkeeping_is_a_typed_error_for_another_user(shared: Path) -> None:
    """Issue 10 item 4: 'chmod 000 .tokacq': list, verify, prune KEY and prune --all exit
    8 naming what cannot be read; nothing is removed."""
    publish(shared / "cache", "org--name", {"tokenizer.json": b"{}"})
    (shared / "cache" / ".tokacq").chmod(0)
    for command in (["cache", "list"], ["cache", "verify"], ["cache", "prune", "org--name"],
                    ["cache", "prune", "--all", "-y"], ["cache", "prune", "--partials"]):
        assert_typed(as_nobody(shared, *command), 8, "cannot be read")
    (shared / "cache" / ".tokacq").chmod(0o755)
    assert (shared / "cache" / "org--name" / "tokenizer.json").read_bytes() == b"{}"


@needs_root
def test_another_users_private_directory_is_unreadable_not_missing(shared: Path) -> None:
    """Issue 10 item 4: a key directory (0700) of another user: verify says 'unreadable'
    (exit 6), never 'MISSING'; list shows the problem; no PermissionError."""
    cache = publish(shared / "cache", "org--name", {"tokenizer.json": b"{}"})
    cache.state("org--name").directory.chmod(0o700)
    hand = shared / "cache" / "manual"
    hand.mkdir()
    (hand / "tokenizer.json").write_text("{}")
    hand.chmod(0o700)
    run = as_nobody(shared, "cache", "verify", "--json")
    assert run.code == 6, run.err
    checks = {(c["key"], c["file"]): c["status"] for c in json.loads(run.out)["checks"]}
    assert checks[("org--name", "tokenizer.json")] == "unreadable"
    assert checks[("manual", "(directory)")] == "unreadable"
    assert "missing" not in checks.values()
    listed = as_nobody(shared, "cache", "list")
    assert listed.code == 0 and "problem: manual:" in listed.out, listed.err
    assert "Permission denied" in listed.out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "code", "kept"), [("n\n", 2, True), ("", 2, True),
                                                       ("y\n", 0, False)])
def test_prune_all_asks_on_a_terminal(filled: Cli, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], answer: str,
                                      code: int, kept: bool) -> None:
    """On a TTY, --all shows what would go and removes it only after 'y'."""
    from tokenizer_acquisition.entrypoints.cli import main

    monkeypatch.setattr("sys.stdin", _Terminal(answer))
    assert main(["cache", "prune", "--all", "--cache-dir", str(filled.cache)]) == code
    err = capsys.readouterr().err
    assert "this removes 1 keys (org--name)" in err and "remove them? [y/N]" in err
    assert os.path.lexists(filled.cache / "org--name") is kept
    assert (filled.cache / "manual" / "tokenizer.json").exists()
