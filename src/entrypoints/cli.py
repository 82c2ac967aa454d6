"""``tokacq``: fetch tokenizers, inspect the configuration, maintain the cache, lock, demo.

Usage (``python -m tokenizer_acquisition`` is the same program)::

    tokacq fetch REPO [-f FILE]... [--revision R] [--cache-key K] [--expected-vocab N]
                      [--sha256 FILE=HEX]... [--strategy S] [--offline]
    tokacq fetch --lock tokenizers.lock [--strategy S] [--offline]
    tokacq info
    tokacq cache list | verify [KEY] | prune (KEY | --all | --partials) | path KEY
    tokacq lock REPO... [-f FILE]... [--revision R] [-o tokenizers.lock]
    tokacq demo

Every command also takes ``--config PATH``, ``--cache-dir DIR``, ``--json`` (one JSON
document on stdout), ``-q/--quiet``, ``-v/--verbose`` and ``--debug``. Data goes to
stdout; progress, logs and errors to stderr. Errors print their message and suggestions,
and a traceback only with ``--debug``; with ``--json`` stdout also gets
``{"error": {"type", "message", "suggestions", "exit_code"}}``.

``fetch`` defaults: files ``tokenizer.json`` and ``tokenizer_config.json``; the cache key
``org--name`` for ``org/name`` at ``main``, ``org--name--<revision>`` otherwise (the full
rule is in ``tokenizer_acquisition.domain.cache_key``).

Exit codes (``tokenizer_acquisition.entrypoints.exit_codes``): 0 ok, 1 internal error,
2 usage or configuration, 3 not found, 4 auth or gated, 5 network, 6 integrity or
vocabulary (also ``cache verify`` problems), 7 lock timeout, 8 cache write error,
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from .._version import __version__
from ..domain.errors import AcquisitionError, AllStrategiesFailed
from . import cli_cache, cli_fetch, cli_info, demo
from .cli_support import common_options, configure_logging, print_json
from .exit_codes import ExitCode, exit_code_for


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokacq",
        description="Get the tokenizer files an inference service needs, from the Hugging "
                    "Face Hub, a mirror or a cache; work offline from the cache.",
        epilog="Exit codes: 0 ok, 1 internal error, 2 usage/configuration, 3 not found, "
               "4 auth/gated, 5 network, 6 integrity/vocabulary, 7 lock timeout, "
               "8 cache write error, 130 interrupted.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = common_options()
    cli_fetch.add_parsers(commands, common)
    cli_info.add_parser(commands, common)
    cli_cache.add_parser(commands, common)
    demo.add_parser(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (never raises for expected failures)."""
    return int(_main(argv))


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors
        return exit_.code if isinstance(exit_.code, int) else ExitCode.USAGE
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    configure_logging(args)
    try:
        return int(args.handler(args))
    except SystemExit as exit_:  # parser.error() from a handler
        return exit_.code if isinstance(exit_.code, int) else ExitCode.USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except AcquisitionError as error:
        return report(args, error)
    except Exception as error:  # a bug: say so plainly, details with --debug
        if args.debug:
            traceback.print_exc()
        print(f"tokacq: internal error: {type(error).__name__}: {error}\n"
              "  rerun with --debug for the traceback, and please report it", file=sys.stderr)
        return ExitCode.INTERNAL


def report(args: argparse.Namespace, error: AcquisitionError) -> int:
    """Print an error's message and suggestions on stderr; the exit code for it."""
    code = exit_code_for(error)
    if args.debug:
        traceback.print_exception(error)
    print(f"tokacq: error: {_describe(error)}", file=sys.stderr)
    if getattr(args, "json", False):
        print_json({"error": {"type": type(error).__name__, "message": _scrub(error.message),
                              "suggestions": [_scrub(s) for s in error.suggestions],
                              "exit_code": int(code)}})
    return code


def _describe(error: AcquisitionError) -> str:
    if isinstance(error, AllStrategiesFailed):
        lines = [f"no strategy could acquire {error.cache_key!r}:"]
        lines += [f"  {a.describe()}" for a in error.attempts]
    else:
        lines = [error.message]
    if error.suggestions:
        lines.append("Suggestions:")
        lines += [f"  - {s}" for s in error.suggestions]
    return _scrub("\n".join(lines))


def _scrub(text: str) -> str:
    """Belt and braces: errors carry no tokens by design; mask any that slipped in."""
    from ..redaction import redact_secrets

    return str(redact_secrets(None, "error", {"text": text})["text"])


if __name__ == "__main__":
    raise SystemExit(main())
