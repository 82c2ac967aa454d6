"""What every ``tokacq`` command shares: common options, settings, output, observers.

Everything the CLI prints that did not come from its own literals (error messages and
suggestions, server text, tracebacks, JSON documents, log lines) goes through ``safe``
or ``print_json``: every secret this command was configured with is masked, whatever its
shape, and control characters are shown as escapes, so a server can neither make the
CLI print the token nor send escape sequences to the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..domain.observers import FanOutObserver
from ..domain.safe_text import REDACTED, safe_text
from ..ports.events import AcquisitionObserver

if TYPE_CHECKING:
    from ..adapters.terminal_progress import ProgressBarObserver
    from ..facade import SmartTokenizerDownload
    from ..settings import Settings


def common_options() -> argparse.ArgumentParser:
    """The options every command takes, after the command name."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--config", metavar="PATH",
                       help="TOML configuration file (default: $TOKACQ_CONFIG, else none)")
    group.add_argument("--cache-dir", metavar="DIR",
                       help="the cache directory (overrides cache_dir and TOKACQ_CACHE_DIR)")
    group.add_argument("--json", action="store_true",
                       help="print one JSON document on stdout instead of text")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bars and no informational text on stderr")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="log each strategy attempt on stderr")
    group.add_argument("--debug", action="store_true",
                       help="debug logs, and a traceback with every error")
    return common


def overrides(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    values = {"cache_dir": args.cache_dir, **extra}
    return {k: v for k, v in values.items() if v is not None}


def load(args: argparse.Namespace, **extra: Any) -> Settings:
    """Settings as this command line asks for them (raises ``ConfigurationError``)."""
    from ..settings import load_settings

    settings = load_settings(args.config, overrides(args, **extra),
                             overrides_source="command line")
    remember_secrets(settings)
    return settings


# -- secrets and control characters in output ---------------------------------------------

#: The environment variables that may hold a secret, read even when invalid.
SECRET_VARIABLES = ("TOKACQ_TOKEN", "HF_TOKEN")
_secrets: set[str] = set()


def reset_secrets() -> None:
    """Forget the previous command's secrets; remember those of the environment."""
    _secrets.clear()
    _secrets.update(os.environ[v] for v in SECRET_VARIABLES if os.environ.get(v))


def remember_secrets(settings: Settings) -> None:
    """Every secret setting of ``settings`` (the token, from wherever it came)."""
    token = settings.network.token
    if token:
        _secrets.add(token.reveal())


def recall_secrets(args: argparse.Namespace | None) -> tuple[str, ...]:
    """The secrets known so far; loads the settings once more if they never loaded (a
    failure before any settings, e.g. a bad endpoint, still may not print the token)."""
    if args is not None and not getattr(args, "_secrets_loaded", False):
        args._secrets_loaded = True
        # Broken settings: what the environment held is known all the same.
        with contextlib.suppress(Exception):
            load(args)
    return tuple(_secrets)


def safe(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` as the CLI may print it: configured secrets, ``Bearer`` credentials and
    ``hf_`` tokens masked, control characters escaped (newlines kept unless asked)."""
    return safe_text(text, _secrets, keep_newlines=keep_newlines)


def _scrub_rendered_json(text: str) -> str:
    # A secret inside a JSON string is written escaped when it holds '"', '\\' or non-ASCII.
    forms = {form for s in _secrets for form in (s, json.dumps(s)[1:-1])}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text


def build_downloader(args: argparse.Namespace, observer: AcquisitionObserver,
                     **extra: Any) -> SmartTokenizerDownload:
    """The configured facade, reporting to ``observer``; imports aiohttp only if needed."""
    from dependency_injector import providers

    from ..container import build_container

    container = build_container(args.config, overrides(args, **extra),
                                overrides_source="command line")
    container.observer.override(providers.Object(observer))
    remember_secrets(container.settings())
    downloader: SmartTokenizerDownload = container.downloader()
    return downloader


def print_json(document: Any) -> None:
    """One JSON document on stdout; control characters are JSON escapes (ASCII output),
    configured secrets are masked."""
    sys.stdout.write(_scrub_rendered_json(json.dumps(document, indent=2)) + "\n")


def note(args: argparse.Namespace, text: str) -> None:
    """Informational text on stderr (silenced by ``--quiet``), never mixed with data."""
    if not args.quiet:
        print(safe(text), file=sys.stderr)


def command_observer(args: argparse.Namespace
                     ) -> tuple[AcquisitionObserver, ProgressBarObserver | None]:
    """Logs always (filtered by level); progress bars when ``progress_wanted`` says so."""
    from ..adapters.logging_observer import LoggingObserver

    observers: list[AcquisitionObserver] = [LoggingObserver()]
    progress = None
    from ..adapters.terminal_progress import ProgressBarObserver, progress_wanted

    if progress_wanted(os.environ, is_terminal=sys.stderr.isatty(), quiet=args.quiet):
        with contextlib.suppress(ImportError):  # tqdm comes with the downloads extra
            progress = ProgressBarObserver(sys.stderr)
            observers.insert(0, progress)
    return FanOutObserver(observers), progress


class _CliLogHandler(logging.StreamHandler):  # type: ignore[type-arg, unused-ignore]
    """Writes to the current ``sys.stderr`` (looked up per record, so a replaced stream
    is honoured); every line passes through ``safe``: secrets masked, controls escaped."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(message)s",
                                            datefmt="%H:%M:%S"))

    @property  # type: ignore[override, unused-ignore]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass

    def format(self, record: logging.LogRecord) -> str:
        return safe(super().format(record), keep_newlines=False)


def configure_logging(args: argparse.Namespace) -> Callable[[], None]:
    """The application (this CLI) configures logging; the library never does.

    Records of the ``tokenizer_acquisition`` loggers go to stderr: errors only by
    default, each attempt with ``-v``, everything with ``--debug``, nothing with ``-q``.
    Returns what undoes it, which ``main`` calls when the command ends: a program that
    runs ``main()`` in its own process (tests, a wrapper) keeps its logging as it was.
    """
    logger = logging.getLogger("tokenizer_acquisition")
    for handler in [h for h in logger.handlers if isinstance(h, _CliLogHandler)]:
        logger.removeHandler(handler)
    previous = logger.level
    if args.debug:
        level = logging.DEBUG
    elif args.quiet:
        level = logging.CRITICAL + 1
    else:
        level = logging.INFO if args.verbose else logging.ERROR
    logger.setLevel(level)
    handler = _CliLogHandler()
    logger.addHandler(handler)

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous)

    return restore
