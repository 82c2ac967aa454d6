"""``tokacq`` against hostile servers, settings, pipes and arguments (issue 10).

Every run goes through the ``cli`` fixture, which fails the test if any configured token
(``support/secrets.py``, the echoed ones included) appears in stdout or stderr; the tests
here also look for the non-Hub-shaped token and raw control characters themselves.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.conftest import REPO, TOKACQ, Cli, Run
from support.echo_server import ESCAPE_MESSAGE, echoing_hub

pytestmark = pytest.mark.timeout(60)

PLAIN = "PlainEchoedSecret-6a1f0c9d2b7e"
HUB = "hf_EchoServerToken0123456789"
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\x7f", "\r")


def assert_clean(run: Run) -> None:
    """No secret, no raw escape: in stdout, in stderr."""
    for stream in (run.out, run.err):
        assert PLAIN not in stream and HUB not in stream
        assert PLAIN[-12:] not in stream
        for raw in RAW_CONTROLS:
            assert raw not in stream, (raw, stream)


def json_error(run: Run, code: int) -> dict[str, object]:
    """Exactly one JSON document on stdout: an error carrying ``exit_code``."""
    assert run.code == code, (run.code, run.err)
    doc = json.loads(run.out)  # raises unless stdout is exactly one document
    error = doc["error"]
    assert error["exit_code"] == code and error["message"]
    assert isinstance(error["suggestions"], list)
    return dict(error)


@pytest.fixture
def hostile(cli: Cli) -> Iterator[Cli]:
    """The CLI pointed at the echoing server, no retries."""
    config = cli.cache.parent / "tokacq.toml"
    config.write_text("[network]\nmax_retries = 0\nconnect_timeout = 2.0\n")
    with echoing_hub() as endpoint:
        cli.env.update(HF_ENDPOINT=endpoint, TOKACQ_CONFIG=str(config))
        yield cli


# -- items 9 and 10: an echoing server, terminal escapes ---------------------------------------

@pytest.mark.parametrize(("repo", "code"), [
    ("org/echo-403", 4), ("org/echo-404", 3), ("org/echo-500", 5)])
@pytest.mark.parametrize("token", [PLAIN, HUB])
def test_an_echoed_token_is_never_printed(hostile: Cli, repo: str, code: int,
                                          token: str) -> None:
    """Default stderr, --json stdout and --debug tracebacks: the token is masked."""
    for extra in ((), ("--json",), ("--debug",), ("--json", "--debug", "-v")):
        run = hostile("fetch", repo, "-f", "tokenizer.json", "--strategy", "network", *extra,
                      HF_TOKEN=token)
        assert run.code == code, (extra, run.err)
        assert_clean(run)
        assert "***" in run.err
        if "--json" in extra:
            assert "***" in json_error(run, code)["message"]  # type: ignore[operator]
        if "--debug" in extra:
            assert "Traceback" in run.err


def test_terminal_escapes_from_the_server_are_shown_escaped(hostile: Cli) -> None:
    """X-Error-Message: ESC ] 0;PWNED BEL ESC [31m reaches the terminal as visible text."""
    assert "\x1b" in ESCAPE_MESSAGE
    for extra in ((), ("--json",), ("--debug",)):
        run = hostile("fetch", "org/escape", "-f", "tokenizer.json", "--strategy", "network",
                      *extra)
        assert run.code == 5, run.err
        assert_clean(run)
        assert "\\x1b]0;PWNED\\x07" in run.err
        if extra == ("--json",):
            assert "\\x1b]0;PWNED\\x07" in str(json_error(run, 5)["message"])


# -- item 11: control characters in header settings --------------------------------------------

@pytest.mark.parametrize(("variable", "value", "key"), [
    ("HF_TOKEN", f"{PLAIN}\r\nX-Injected: 1", "network.token"),
    ("TOKACQ_TOKEN", f"{PLAIN}\n", "network.token"),
])
def test_a_line_break_in_the_token_is_a_configuration_error(
        hostile: Cli, variable: str, value: str, key: str) -> None:
    """Exit 2 when built, naming the setting, never the value; no request is retried."""
    for extra in ((), ("--json",)):
        env = {variable: value}
        run = hostile("fetch", REPO, "--strategy", "network", *extra, **env)
        assert run.code == 2, run.err
        assert key in run.err and variable in run.err
        assert_clean(run)
        if extra:
            assert json_error(run, 2)["type"] == "ConfigurationError"


def test_a_line_break_in_the_user_agent_is_a_configuration_error(cli: Cli) -> None:
    """network.user_agent with CR/LF: exit 2 naming it."""
    config = cli.cache.parent / "ua.toml"
    config.write_text('[network]\nuser_agent = "me/1\\r\\nX-Evil: 1"\n')
    run = cli("info", "--config", str(config))
    assert run.code == 2 and "network.user_agent" in run.err


# -- items 6 and 12: endpoints ------------------------------------------------------------------

@pytest.mark.parametrize(("endpoint", "needle"), [
    ("http://127.0.0.1:99999", "Port out of range"),
    ("http://[::1", "Invalid IPv6 URL"),
    ("http://127.0.0.1:1?x=1", "query"),
    ("http://127.0.0.1:1#frag", "fragment"),
])
def test_a_bad_endpoint_exits_2_when_built(cli: Cli, endpoint: str, needle: str) -> None:
    """A configuration error (exit 2) naming TOKACQ_ENDPOINT, not an internal error."""
    run = cli("fetch", REPO, "--strategy", "network", TOKACQ_ENDPOINT=endpoint)
    assert run.code == 2, run.err
    assert "TOKACQ_ENDPOINT" in run.err and needle in run.err
    assert "internal error" not in run.err


def test_an_upper_case_scheme_is_accepted(cli: Cli) -> None:
    """HTTP://... is http://..."""
    run = cli("info", "--json", TOKACQ_ENDPOINT="HTTP://127.0.0.1:9")
    assert run.code == 0, run.err
    rows = {row["key"]: row["value"] for row in run.json()["settings"]}
    assert rows["network.endpoint"] == "http://127.0.0.1:9"


# -- item 7: a closed pipe ----------------------------------------------------------------------

_FLOOD = """
import sys
from tokenizer_acquisition.entrypoints import cli, cli_info
def flood(args):
    for i in range(100_000):
        print(f"line {i} " + "x" * 60)
    return 0
cli_info.run_info = flood
cli.cli_info.run_info = flood
raise SystemExit(cli.main(["info"]))
"""


def test_a_reader_closing_the_pipe_ends_the_command_quietly(cli: Cli) -> None:
    """Any command whose stdout reader goes away: exit 141, nothing on stderr."""
    import sys

    code, err = _read_one_line_then_close([sys.executable, "-c", _FLOOD], cli.env, b"line 0")
    assert code == 141 and err == b"", err


def _read_one_line_then_close(command: list[str], env: dict[str, str],
                              first: bytes) -> tuple[int, bytes]:
    """Run ``command``, read one line of its stdout, close the pipe: its status, stderr."""
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as reader:
        assert reader.stdout is not None and reader.stderr is not None
        assert reader.stdout.readline().startswith(first)
        reader.stdout.close()
        err = reader.stderr.read()
        return reader.wait(timeout=60), err


def test_cache_list_into_head_exits_quietly(cli: Cli) -> None:
    """`tokacq cache list | head -1`: no traceback, no BrokenPipeError, exit 141 (SIGPIPE)."""
    for i in range(3000):  # far more than a pipe buffer holds
        key = cli.cache / f"k{i:05d}-{'x' * 40}"
        key.mkdir(parents=True)
        (key / "tokenizer.json").write_bytes(b"{}")
    done = subprocess.run(
        ["sh", "-c", f'"{TOKACQ}" cache list | head -1'],
        env=cli.env, capture_output=True, text=True, timeout=60)
    assert done.stderr == "", done.stderr
    assert done.stdout.startswith("KEY")
    # The pipeline's own status is head's; ask for tokacq's with a reader that closes.
    code, err = _read_one_line_then_close([str(TOKACQ), "cache", "list"], cli.env, b"KEY")
    assert code == 141 and err == b"", err


# -- item 16: expected_vocab without a countable file -------------------------------------------

def test_expected_vocab_without_a_countable_file_exits_2_before_downloading(
        hostile: Cli) -> None:
    """--expected-vocab with only tokenizer_config.json: exit 2, no request made."""
    run = hostile("fetch", "org/echo-500", "-f", "tokenizer_config.json",
                  "--expected-vocab", "30522", "--strategy", "network", "--json")
    error = json_error(run, 2)
    assert error["type"] == "InvalidRequest" and "expected_vocab" in str(error["message"])


# -- item 17: --json for every failure ----------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("fetch", "", "--json"),
    ("fetch", REPO, "--sha256", "nonsense", "--json"),
    ("fetch", REPO, "--expected-vocab", "abc", "--json"),
    ("fetch", "--lock", "F", REPO, "--json"),
    ("fetch", "--json", "--bogus-option"),
    ("cache", "prune", "--json"),
])
def test_every_usage_error_is_one_json_document(cli: Cli, args: tuple[str, ...]) -> None:
    """Argparse errors under --json: exactly one JSON error document with exit_code 2."""
    run = cli(*args)
    error = json_error(run, 2)
    assert error["type"] == "UsageError"
    assert "error:" in run.err  # the human message stays on stderr


def test_without_json_a_usage_error_prints_no_json(cli: Cli) -> None:
    """Plain usage errors keep argparse's look: usage and message on stderr only."""
    run = cli("fetch", REPO, "--expected-vocab", "abc")
    assert run.code == 2 and run.out == "" and "usage:" in run.err


# -- item 18: local_dir joins the default order -------------------------------------------------

def test_info_shows_local_dir_in_the_default_order(cli: Cli, tmp_path: Path) -> None:
    """TOKACQ_LOCAL_DIR alone: the hybrid order is cache-only, local-dir, ..."""
    run = cli("info", "--json", TOKACQ_LOCAL_DIR=str(tmp_path / "bundle"))
    assert run.code == 0, run.err
    doc = run.json()
    assert [s["name"] for s in doc["strategies"]][:2] == ["cache-only", "local-dir"]
    rows = {row["key"]: row["value"] for row in doc["settings"]}
    assert rows["strategies"][:2] == ["cache-only", "local-dir"]
    text = cli("info", TOKACQ_LOCAL_DIR=str(tmp_path / "bundle"))
    assert "local-dir" in text.out


# -- item 19: tokacq lock -----------------------------------------------------------------------

def test_lock_into_a_missing_directory_exits_2_and_creates_nothing(cli: Cli,
                                                                   tmp_path: Path) -> None:
    """-o /missing/dir/x.lock: a ConfigurationError (exit 2) before any fetch."""
    target = tmp_path / "missing" / "dir" / "x.lock"
    run = cli("lock", REPO, "-o", str(target), "--offline")
    assert run.code == 2, run.err
    assert "does not exist" in run.err and "--output" in run.err
    assert not (tmp_path / "missing").exists()


def test_lock_merges_a_repo_named_twice(online: Cli) -> None:
    """`tokacq lock R R` locks R once, and says so."""
    out = online.cache.parent / "t.lock"
    run = online("lock", REPO, REPO, "-f", "tokenizer.json", "-o", str(out))
    assert run.code == 0, run.err
    assert "more than once" in run.err
    assert out.read_text().count("[[entry]]") == 1
