"""Server text reaches errors with no secret and no terminal escape (issue 10, items 9-10)."""

from __future__ import annotations

import pytest

from tokenizer_acquisition.domain.errors import (
    AuthenticationFailed,
    EntryNotFound,
    NetworkError,
)
from tokenizer_acquisition.domain.hub_protocol import error_for
from tokenizer_acquisition.domain.safe_text import escape_controls, safe_text, scrub_secrets

PLAIN = "PlainEchoedSecret-6a1f0c9d2b7e"
HUB = "hf_EchoServerToken0123456789"
ESCAPES = "\x1b]0;PWNED\x07\x1b[31mred\x9b2J\x7f\u202eevil\r\nSuggestions: rm -rf ~"


def _error(status: int, message: str, *, secrets: tuple[str, ...] = (PLAIN,),
           reason: str | None = None) -> NetworkError:
    return error_for(status, {"X-Error-Message": message, "X-Request-Id": f"id {PLAIN}"},
                     url="http://127.0.0.1:1/org/m/resolve/main/tokenizer.json",
                     file="tokenizer.json", repo="org/m", revision="main", reason=reason,
                     secrets=secrets)


@pytest.mark.parametrize(("status", "kind"), [
    (403, AuthenticationFailed), (500, NetworkError), (404, EntryNotFound)])
def test_an_echoed_credential_never_reaches_the_error(status: int,
                                                      kind: type[NetworkError]) -> None:
    """403, 500 and 404 echoing the token (bare, or with Bearer): masked in every field."""
    for echoed in (PLAIN, f"Bearer {PLAIN}", HUB, f"Authorization: Bearer {HUB}"):
        error = _error(status, f"bad credentials {echoed}!")
        assert isinstance(error, kind)
        text = f"{error} {error!r} {error.server_message} {error.request_id} {error.args}"
        assert PLAIN not in text and HUB not in text, text
        assert "***" in str(error.server_message)


def test_reason_strings_are_scrubbed_too() -> None:
    """A transport reason that quotes the credential is masked like a server message."""
    error = error_for(None, {}, url="http://h/x", file="f", repo="org/m", revision="main",
                      reason=f"ClientError: header Authorization={PLAIN}", secrets=[PLAIN])
    assert PLAIN not in str(error)


def test_terminal_escapes_from_the_server_are_made_visible() -> None:
    """ESC, BEL, C1, DEL, bidi overrides and line breaks arrive as visible escapes."""
    error = _error(500, ESCAPES)
    text = str(error)
    for raw in ("\x1b", "\x07", "\x9b", "\x7f", "\u202e", "\r"):
        assert raw not in text
    assert "\\x1b]0;PWNED\\x07\\x1b[31m" in text
    assert "\\x0d\\x0aSuggestions: rm -rf ~" in text  # no forged line of its own
    assert text.count("\n") == str(_error(500, "plain")).count("\n")


def test_safe_text_keeps_our_own_newlines_when_asked() -> None:
    """The CLI's multi-line messages keep their lines; everything else is escaped."""
    assert escape_controls("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"
    assert escape_controls("a\nb") == "a\\x0ab"
    assert safe_text(f"x {PLAIN}\ty", [PLAIN]) == "x ***\\x09y"


def test_the_longest_secret_is_masked_whole() -> None:
    """A secret containing another one is not left half visible."""
    assert scrub_secrets("k=abcdef", ["abc", "abcdef"]) == "k=***"
    assert scrub_secrets("nothing here", ["", "zzz"]) == "nothing here"
