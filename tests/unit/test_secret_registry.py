"""The suite-wide token search knows every token the tests configure."""

from __future__ import annotations

import tempfile
from pathlib import Path

from support.secrets import KNOWN_TOKENS, leaking_files, token_literals_in_sources


def test_every_token_literal_in_the_tests_is_registered() -> None:
    """A new test token must be added to support/secrets.py, or leaks of it go unseen."""
    tests_root = Path(__file__).resolve().parents[1]
    assert token_literals_in_sources(tests_root) <= set(KNOWN_TOKENS)


def test_the_file_search_finds_a_leak_and_spares_token_files() -> None:
    """A token inside a manifest is a leak; a file holding only a token is an input."""
    # Outside the suite's temp dirs, which the session-wide search scans at the end.
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "token").write_text(KNOWN_TOKENS[0] + "\n")
        manifest = root / "m.json"
        manifest.write_text('{"source": "https://h/x?token=' + KNOWN_TOKENS[1] + '"}')
        assert leaking_files(root) == [(manifest, KNOWN_TOKENS[1])]
