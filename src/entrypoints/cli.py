"""``tokacq``: fetch tokenizers, inspect the configuration, maintain the cache, lock, demo.

Usage (``python -m tokenizer_acquisition`` is the same program)::

    tokacq fetch REPO [-f FILE]... [--include P]... [--exclude P]... [--revision R]
                      [--cache-key K] [--expected-vocab N] [--sha256 FILE=HEX]...
                      [--dry-run] [--local-dir DIR] [--refresh] [--strategy S] [--offline]
                      [--endpoint URL] [--token-file PATH | --token -] [--max-workers N]
    tokacq fetch --lock tokenizers.lock [--strategy S] [--offline]
    tokacq ls REPO [--revision R] [--include P]... [--exclude P]... [--endpoint URL]
                   [--token-file PATH | --token -]
    tokacq info
    tokacq cache list [KEY] | verify [KEY] | path KEY
    tokacq cache prune (KEY | --all | --partials) [--include-unmanaged] [--dry-run] [--yes]
    tokacq lock REPO... [-f FILE]... [--revision R] [-o tokenizers.lock]
    tokacq demo

Every command also takes ``--config PATH``, ``--cache-dir DIR``, ``--json`` (one JSON
document on stdout), ``-q/--quiet``, ``-v/--verbose`` and ``--debug``. Data goes to
stdout; progress, logs and errors to stderr. Errors print their message and suggestions,
and a traceback only with ``--debug``; with ``--json`` stdout also gets exactly one
``{"error": {"type", "message", "suggestions", "exit_code"}}`` for every failure, usage
errors (``"type": "UsageError"``) included. Configured secrets are masked and control
characters escaped in everything printed (``cli_support.safe``).

``fetch`` defaults: without ``-f`` the tokenizer's files are discovered (the repo is
listed at the resolved commit and the tokenizer preset picks them; ``--include`` adds,
``--exclude`` removes; ``tokacq ls`` shows the selection with sizes and downloads
nothing); the cache key ``org--name`` for ``org/name`` at ``main``,
``org--name--<revision>`` otherwise (the full rule is in
``tokenizer_acquisition.domain.cache_key``). A token is never taken on the command line:
``--token-file PATH``, or ``--token -`` to read it from stdin.

Exit codes (``tokenizer_acquisition.entrypoints.exit_codes``): 0 ok, 1 internal error,
2 usage or configuration, 3 not found, 4 auth or gated, 5 network, 6 integrity or
vocabulary (also ``cache verify`` problems), 7 lock timeout, 8 cache write error,
130 interrupted, 141 stdout closed by its reader (``tokacq cache list | head -1``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from .._version import __version__
from ..domain.errors import AcquisitionError, AllStrategiesFailed
from . import cli_bundle, cli_cache, cli_fetch, cli_info, demo
from .cli_support import (
    common_options,
    configure_logging,
    print_json,
    recall_secrets,
    reset_secrets,
    safe,
)
from .exit_codes import ExitCode, exit_code_for


class UsageError(Exception):
    """What ``argparse`` would print and exit with; raised instead, so ``--json`` can
    report it as a JSON document like every other failure."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` (and its subcommands' parsers) whose usage errors raise."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tokacq",
        description="Get the tokenizer files an inference service needs, from the Hugging "
                    "Face Hub, a mirror or a cache; work offline from the cache.",
        epilog="Exit codes: 0 ok, 1 internal error, 2 usage/configuration, 3 not found, "
               "4 auth/gated, 5 network, 6 integrity/vocabulary, 7 lock timeout, "
               "8 cache write error, 130 interrupted, 141 output pipe closed.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = common_options()
    cli_fetch.add_parsers(commands, common)
    cli_info.add_parser(commands, common)
    cli_cache.add_parser(commands, common)
    cli_bundle.add_parser(commands, common)
    demo.add_parser(commands, common)
    subcommands: Any = commands  # a _Parser's subparsers take plain parents
    completion = subcommands.add_parser(
        "completion", parents=[common], help="print a shell completion script",
        description="Print a completion script for SHELL, generated from this parser: "
                    "eval \"$(tokacq completion bash)\" in ~/.bashrc, or save the zsh "
                    "one as _tokacq on your $fpath.")
    completion.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    completion.set_defaults(handler=_print_completion)
    return parser


def _print_completion(args: argparse.Namespace) -> int:
    import shtab

    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (never raises for expected failures).

    When the reader of stdout goes away (``tokacq cache list | head -1``), the command
    stops quietly with ``141`` (128 + SIGPIPE), the status a shell reports for other
    Unix tools in that pipeline.
    """
    try:
        code = int(_main(argv))
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _discard_output()
        return ExitCode.BROKEN_PIPE


def _discard_output() -> None:
    """Point stdout and stderr at /dev/null, so the interpreter's final flush of what is
    still buffered for the closed pipe raises nothing (the recipe of Python's ``signal``
    documentation)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            # Not a real file (a test's captured stream): nothing will flush into the pipe.
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)


def _main(argv: Sequence[str] | None) -> int:
    reset_secrets()
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exit_:  # --help, --version
        return exit_.code if isinstance(exit_.code, int) else ExitCode.USAGE
    except UsageError as error:
        return usage_error(error, json_wanted="--json" in arguments)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    restore_logging = configure_logging(args)
    try:
        return int(args.handler(args))
    except UsageError as error:  # parser.error() from a handler
        return usage_error(error, json_wanted=args.json)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else ExitCode.USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        _json_error(args, "KeyboardInterrupt", "interrupted", [], ExitCode.INTERRUPTED)
        return ExitCode.INTERRUPTED
    except AcquisitionError as error:
        return report(args, error)
    except BrokenPipeError:
        raise
    except Exception as error:  # a bug: say so plainly, details with --debug
        recall_secrets(args)
        if args.debug:
            _print_traceback(error)
        text = safe(f"{type(error).__name__}: {error}")
        print(f"tokacq: internal error: {text}\n"
              "  rerun with --debug for the traceback, and please report it", file=sys.stderr)
        _json_error(args, "InternalError", text, ["rerun with --debug and report it"],
                    ExitCode.INTERNAL)
        return ExitCode.INTERNAL
    finally:
        restore_logging()


def usage_error(error: UsageError, *, json_wanted: bool) -> int:
    """Print a usage error as ``argparse`` does (and, under ``--json``, as a document)."""
    error.parser.print_usage(sys.stderr)
    message = safe(error.message)
    print(f"{error.parser.prog}: error: {message}", file=sys.stderr)
    if json_wanted:
        print_json({"error": {"type": "UsageError", "message": message,
                              "suggestions": [f"see '{error.parser.prog} --help'"],
                              "exit_code": int(ExitCode.USAGE)}})
    return ExitCode.USAGE


def _json_error(args: argparse.Namespace, kind: str, message: str, suggestions: list[str],
                code: int) -> None:
    if getattr(args, "json", False):
        print_json({"error": {"type": kind, "message": message, "suggestions": suggestions,
                              "exit_code": int(code)}})


def _print_traceback(error: BaseException) -> None:
    """The traceback ``--debug`` asks for, through the same scrubbing as every message."""
    sys.stderr.write(safe("".join(traceback.format_exception(error))))


def report(args: argparse.Namespace, error: AcquisitionError) -> int:
    """Print an error's message and suggestions on stderr; the exit code for it."""
    code = exit_code_for(error)
    recall_secrets(args)
    if args.debug:
        _print_traceback(error)
    print(f"tokacq: error: {_describe(error)}", file=sys.stderr)
    _json_error(args, type(error).__name__, safe(error.message),
                [safe(s) for s in error.suggestions], code)
    return code


def _describe(error: AcquisitionError) -> str:
    if isinstance(error, AllStrategiesFailed):
        lines = [f"no strategy could acquire {error.cache_key!r}:"]
        lines += [f"  {a.describe()}" for a in error.attempts]
    else:
        lines = [error.message]
        if isinstance(error.__cause__, AllStrategiesFailed):  # hybrid's decisive error
            lines = [f"{type(error).__name__}: {error.message}"]
            lines += [f"  after {a.describe()}" for a in error.__cause__.attempts
                      if a.missed]
    if error.suggestions:
        lines.append("Suggestions:")
        lines += [f"  - {s}" for s in error.suggestions]
    return safe("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
