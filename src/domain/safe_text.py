"""Text that is safe to put in an error, a log line or a terminal: no secret, no escape.

Two pure functions, applied to anything a server or the disk handed us before it becomes
part of a message:

* ``scrub_secrets`` replaces every configured secret (the Hub token, whatever its shape),
  any ``Bearer <credential>`` and anything that looks like a Hub token (``hf_...``) with
  ``***``. A hostile or buggy server may echo the ``Authorization`` header back in
  ``X-Error-Message``; the token must not travel on into exceptions and terminals.
* ``escape_controls`` shows control characters as visible escapes (``\\x1b``, ``\\x85``,
  ``\\u202e``), so a server cannot retitle a terminal, recolour it, move its cursor, or
  forge extra lines in a one-line message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "***"
BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",]+")
HUB_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{8,}\b")

# C0 controls, DEL, C1 controls, the Unicode bidirectional overrides and isolates that
# reorder what a terminal shows ("Trojan source"), line and paragraph separators, and lone
# surrogates (undecodable header bytes, which aiohttp keeps as surrogate escapes: a C1
# byte such as \x9b arrives as \udc9b, and printing one raises UnicodeEncodeError).
_OTHERS = "\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_CONTROL = re.compile(f"[\x00-\x1f{_OTHERS}]")
_CONTROL_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_OTHERS}]")


def scrub_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each secret, ``Bearer`` credential and ``hf_`` token masked."""
    # Longest first, so a secret that contains another one is masked whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return HUB_TOKEN.sub(REDACTED, BEARER.sub(rf"\g<1>{REDACTED}", text))


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with control characters shown as ``\\xNN`` / ``\\uNNNN`` escapes.

    ``keep_newlines`` keeps ``\\n`` for our own multi-line messages; text from a server is
    escaped whole, so it cannot start a line of its own.
    """
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(_visible, text)


def safe_text(text: str, secrets: Iterable[str] = (), *, keep_newlines: bool = False) -> str:
    """Secrets masked, then control characters escaped: what may be printed or raised."""
    return escape_controls(scrub_secrets(text, secrets), keep_newlines=keep_newlines)


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (CR, LF, ESC, NUL, DEL, C1, ...)."""
    return _CONTROL.search(text) is not None
