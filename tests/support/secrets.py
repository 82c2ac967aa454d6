"""Every token the test suite configures, so a session-wide search can prove none leaks."""

from __future__ import annotations

import re
from pathlib import Path

#: Tokens the tests hand to the library (configuration, environment, simulator).
KNOWN_TOKENS = (
    "hf_AbCdEfGhIjKlMnOpQrStUv",
    "hf_DoNotPrintMe0123456789abcdef",
    "hf_EnvironmentToken12345",
    "hf_MockToken0123456789",
    "hf_ReliabilitySuiteToken9f8e7d6c5b4a",
    "hf_SimulatorSecretToken0123456789",
    "hf_sim_test_token_0123456789",
    "hf_fromfile",
    "hf_login",
    "hf_secretvalue123",
    "hf_EchoServerToken0123456789",
    # tests/e2e/test_cli_discovery.py: --token-file and --token - (stdin).
    "hf_CliStdinToken0123456789abcd",
    "hf_CliTokenFile0123456789abcd",
    # Not shaped like a Hub token (no hf_ prefix): only the configured-secret scrubbing
    # can catch it, so the echoing server's tests use it too.
    "PlainEchoedSecret-6a1f0c9d2b7e",
)

#: How a token literal looks in the tests' sources (checked against the list above).
TOKEN_LITERAL = re.compile(r"""["'](hf_[A-Za-z0-9_]{3,})["']""")
_NOT_TOKENS = {"hf_cache", "hf_cache_dir", "hf_home", "hf_hub", "hf_token", "hf_endpoint"}

#: Secrets made at run time (the S3 gateway's random keys): searched like the tokens above.
_REGISTERED: list[str] = []
MAX_SCAN_BYTES = 256 * 1024 * 1024


def register_secret(value: str) -> None:
    """Add a secret created during the run to the session-wide search."""
    if value and value not in _REGISTERED:
        _REGISTERED.append(value)


def all_secrets() -> tuple[str, ...]:
    return (*KNOWN_TOKENS, *_REGISTERED)


def tokens_in(text: str) -> list[str]:
    return [t for t in all_secrets() if t in text]


def leaking_files(root: Path) -> list[tuple[Path, str]]:
    """Files under ``root`` containing a known token, except token files themselves.

    A file whose whole content is one token (stripped) is a token *input* (``token_file``,
    the Hub's login file), placed there by a test on purpose.
    """
    leaks: list[tuple[Path, str]] = []
    encoded = tuple(t.encode() for t in all_secrets())
    for path in root.rglob("*"):
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_SCAN_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if data.strip() in encoded:
            continue
        leaks.extend((path, t.decode()) for t in encoded if t in data)
    return leaks


def token_literals_in_sources(tests_root: Path) -> set[str]:
    """Every ``"hf_..."`` literal in the test sources that is not a known non-token name."""
    found: set[str] = set()
    for source in tests_root.rglob("*.py"):
        found.update(m for m in TOKEN_LITERAL.findall(source.read_text(encoding="utf-8"))
                     if m not in _NOT_TOKENS)
    return found
