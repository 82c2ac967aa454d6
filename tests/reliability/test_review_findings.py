"""Adversarial review of issues 9 and 10: the storage model's remaining ways to go wrong.

Each test names one behaviour that must hold and failed before its fix.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from support.set_integrity import MINILM, env_for, json_out, tokacq
from tokenizer_acquisition.adapters.filesystem_cache import GRACE_S, FileSystemCache
from tokenizer_acquisition.domain.manifest import ManifestEntry, Snapshot

CONFIG = (MINILM / "tokenizer_config.json").read_bytes()
TOKENIZER = (MINILM / "tokenizer.json").read_bytes()
COMMIT_A = "a" * 40
COMMIT_B = "b" * 40
COMMIT_C = "c" * 40


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


# -- a loopback server whose X-Repo-Commit is scripted ------------------------------------------

class _CommitServer:
    """Serves ``files`` at any revision of any repo, with a git-sha1 ETag and the scripted
    ``X-Repo-Commit`` (none when ``commit`` is None). Listens on 127.0.0.1 only."""

    def __init__(self, files: Mapping[str, bytes], commit: str | None) -> None:
        self.files = dict(files)
        self.commit = commit
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, body: bool) -> None:
                name = self.path.split("?")[0].rsplit("/", 1)[-1]
                data = owner.files.get(name)
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", f'"{_git_sha1(data)}"')
                if owner.commit is not None:
                    self.send_header("X-Repo-Commit", owner.commit)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer(True)

            def do_HEAD(self) -> None:
                self._answer(False)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> _CommitServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def small_repo() -> dict[str, bytes]:
    return {"tokenizer.json": TOKENIZER, "tokenizer_config.json": CONFIG}


def _fetch(endpoint: str, home: Path, cache: Path, key: str, *extra: str
           ) -> tuple[int, str, str]:
    env = env_for(None, home, HF_ENDPOINT=endpoint)
    done = tokacq(env, "fetch", "org/name", "--cache-dir", str(cache), "--cache-key", key,
                  "-f", "tokenizer.json", "-f", "tokenizer_config.json", "--json", *extra)
    return done.returncode, done.stdout, done.stderr


def _entries_outside(root: Path, before: set[str]) -> set[str]:
    return set(os.listdir(root)) - before


# -- 1. a server's X-Repo-Commit names the snapshot directory -----------------------------------

@pytest.mark.parametrize("commit", ["../../../../escaped", "../../../escaped",
                                    "A" * 40, "x" * 80])
def test_a_hostile_repo_commit_never_names_a_path(small_repo: dict[str, bytes], tmp_path: Path,
                                                   commit: str) -> None:
    """An X-Repo-Commit that is not a commit never leaves the cache nor spoils the key."""
    base = tmp_path / "base"
    cache = base / "deep" / "cache"
    cache.mkdir(parents=True)
    before_base = set(os.listdir(base))
    before_tmp = set(os.listdir(tmp_path))
    with _CommitServer(small_repo, commit) as server:
        code, out, err = _fetch(server.endpoint, tmp_path / "home", cache, "k")
        assert code == 0, err
        # Nothing created beside or above the cache by a name the server chose.
        assert _entries_outside(base, before_base) == set()
        assert _entries_outside(tmp_path, before_tmp) <= {"home"}
        assert sorted(n for n in os.listdir(cache) if not n.startswith(".")) == ["k"]
        state = FileSystemCache(cache).state("k")
        assert state.kind == "managed", state
        # A second acquisition of another revision can still replace the set.
        code, out, err = _fetch(server.endpoint, tmp_path / "home", cache, "k",
                                "--revision", "v2")
        assert code == 0, err
    # The commit reported is the server's when it is one, else none.
    assert json_out(_result(out)).get("commit") in (None, commit.lower())


def _result(out: str) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([], 0, stdout=out)


# -- 2. maintenance through a symlinked bookkeeping sub-directory --------------------------------

@pytest.mark.parametrize("sub", ["partials", "snapshots", "blobs", "tmp"])
def test_prune_never_deletes_through_a_linked_bookkeeping_directory(tmp_path: Path,
                                                                     sub: str) -> None:
    """A .tokacq sub-directory that is a link out of the cache: prune deletes nothing there."""
    cache = tmp_path / "cache"
    (cache / ".tokacq").mkdir(parents=True)
    elsewhere = tmp_path / "users-data"
    # What a user keeps in the link's target: directories named like keys, plain files
    # (one named like a blob), a file named like a temporary.
    (elsewhere / "Documents").mkdir(parents=True)
    (elsewhere / "Documents" / "thesis.txt").write_text("years of work")
    (elsewhere / "projects" / "a1b2c3-0123abcd").mkdir(parents=True)
    (elsewhere / "projects" / "a1b2c3-0123abcd" / "notes.txt").write_text("notes")
    (elsewhere / "photo.jpg").write_bytes(b"\xff\xd8 jpeg")
    (elsewhere / ("e" * 64)).write_bytes(b"named like a blob")
    (elsewhere / "draft.tokacq-tmp").write_text("named like a temporary")
    os.symlink(elsewhere, cache / ".tokacq" / sub)
    before = sorted(str(p.relative_to(elsewhere)) for p in elsewhere.rglob("*"))
    env = env_for(None, tmp_path / "home")
    results = []
    for args in (["--partials"], ["--all", "--yes"], ["Documents"]):
        done = tokacq(env, "cache", "prune", *args, "--cache-dir", str(cache))
        results.append((args, done.returncode, done.stderr[-300:]))
        after = sorted(str(p.relative_to(elsewhere)) for p in elsewhere.rglob("*"))
        assert after == before, (args, done.returncode, done.stdout, done.stderr)
    for args, code, err in results:
        assert code != 1, (args, err)  # refused with a typed error, or nothing to do


# -- 3. superseded snapshots stay GRACE_S after they were superseded -----------------------------

def _snapshot(key: str, commit: str, files: Mapping[str, bytes]) -> Snapshot:
    entries = {name: ManifestEntry(size=len(data), sha256=_sha(data), commit=commit,
                                   revision="main", repo="org/name")
               for name, data in files.items()}
    return Snapshot(cache_key=key, repo="org/name", revision="main", commit=commit,
                    files=entries, created_at=time.time())


def _publish(cache: FileSystemCache, key: str, commit: str, files: Mapping[str, bytes]
             ) -> Path:
    cache.root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        staged = cache.root / f"staged-{name}"
        staged.write_bytes(data)
        cache.store_blob(staged, _sha(data))
    return cache.publish(_snapshot(key, commit, files)).directory


def _age(cache: FileSystemCache, key: str, directory: Path, seconds: float) -> None:
    """Make a snapshot look created ``seconds`` ago (a set that was current that long)."""
    when = time.time() - seconds
    for path in (directory, directory.with_name(directory.name + ".json"),
                 *directory.iterdir()):
        os.utime(path, (when, when), follow_symlinks=False)


def test_a_reader_keeps_a_set_that_was_superseded_moments_ago(tmp_path: Path) -> None:
    """A set current for an hour, superseded twice within a second, stays readable GRACE_S."""
    cache = FileSystemCache(tmp_path / "cache")
    first = _publish(cache, "k", COMMIT_A, {"tokenizer_config.json": CONFIG})
    _age(cache, "k", first, 2 * GRACE_S)  # current for a long time
    served = first / "tokenizer_config.json"  # what a reader holds (result.files)
    _publish(cache, "k", COMMIT_B, {"tokenizer_config.json": CONFIG + b" "})
    _publish(cache, "k", COMMIT_C, {"tokenizer_config.json": CONFIG + b"  "})
    # Superseded a moment ago: the docstring promises a reader keeps working GRACE_S.
    assert served.read_bytes() == CONFIG


# -- 4. a blob shared by two keys --------------------------------------------------------------

def test_collect_of_one_key_never_takes_a_blob_another_key_is_publishing(tmp_path: Path
                                                                          ) -> None:
    """Key a's clean-up never removes a blob key b stored and is about to link."""
    cache = FileSystemCache(tmp_path / "cache")
    shared = {"tokenizer_config.json": CONFIG}
    old = _publish(cache, "a", COMMIT_A, shared)
    _publish(cache, "a", COMMIT_B, {"tokenizer_config.json": CONFIG + b" "})
    _age(cache, "a", old, 2 * GRACE_S)
    # Key b (another lock) stores the same content: the blob exists, so it is kept.
    staged = cache.root / "staged"
    staged.write_bytes(CONFIG)
    cache.store_blob(staged, _sha(CONFIG))
    # Meanwhile key a publishes again and collects its old snapshot (and the blob).
    _publish(cache, "a", COMMIT_C, {"tokenizer_config.json": CONFIG + b"  "})
    # Key b now links its stored blob.
    located = cache.publish(_snapshot("b", COMMIT_A, shared))
    assert (located.directory / "tokenizer_config.json").read_bytes() == CONFIG


# -- 5. a manifest's file names are paths ----------------------------------------------------

def test_a_manifest_naming_a_path_outside_its_snapshot_is_never_linked_there(
        small_repo: dict[str, bytes], tmp_path: Path) -> None:
    """A manifest entry '../../x' (shared cache, edited by another user) is never carried."""
    base = tmp_path / "base"
    cache = base / "cache"
    cache.mkdir(parents=True)
    with _CommitServer(small_repo, COMMIT_A) as server:
        home = tmp_path / "home"
        env = env_for(None, home, HF_ENDPOINT=server.endpoint)
        done = tokacq(env, "fetch", "org/name", "--cache-dir", str(cache), "--cache-key", "k",
                      "-f", "tokenizer_config.json", "--json")
        assert done.returncode == 0, done.stderr
        state = FileSystemCache(cache).state("k")
        assert state.snapshot is not None and state.sid is not None
        manifest = state.directory.with_name(f"{state.sid}.json")
        doc = json.loads(manifest.read_bytes())
        hostile = "../" * 5 + "escape.txt"  # from <sid>/ up to base/
        doc["files"][hostile] = dict(doc["files"]["tokenizer_config.json"])
        manifest.write_text(json.dumps(doc))
        code, _out, err = _fetch(server.endpoint, home, cache, "k")
        assert code in (0, 2, 6, 8), err
        assert not (base / "escape.txt").exists()
        assert not os.path.lexists(base / "escape.txt")


# -- 6. a directory tree deeper than Python's recursion limit --------------------------------

def _deep_tree(top: Path, depth: int) -> None:
    """``top/d/d/.../d/f.txt``, ``depth`` levels (built relative: no long path needed)."""
    top.mkdir(parents=True)
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open("f.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
            f.write("x")
    finally:
        os.close(fd)


def test_a_hand_placed_tree_deeper_than_the_recursion_limit_is_no_internal_error(
        tmp_path: Path) -> None:
    """cache list/verify/prune and discovery over a 1,200-level tree: never exit 1."""
    cache = tmp_path / "cache"
    _deep_tree(cache / "handkey", 1200)
    env = env_for(None, tmp_path / "home")
    for args in (["cache", "list"], ["cache", "verify"],
                 ["fetch", "org/name", "--strategy", "cache-only", "--cache-key", "handkey"],
                 ["cache", "prune", "handkey", "--include-unmanaged"]):
        done = tokacq(env, *args, "--cache-dir", str(cache))
        assert done.returncode != 1 and "internal error" not in done.stderr, (args, done.stderr)
    assert not (cache / "handkey").exists()
