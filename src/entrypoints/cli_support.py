"""What every ``tokacq`` command shares: common options, settings, output, observers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ..domain.observers import FanOutObserver
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

    return load_settings(args.config, overrides(args, **extra), overrides_source="command line")


def build_downloader(args: argparse.Namespace, observer: AcquisitionObserver,
                     **extra: Any) -> SmartTokenizerDownload:
    """The configured facade, reporting to ``observer``; imports aiohttp only if needed."""
    from dependency_injector import providers

    from ..container import build_container

    container = build_container(args.config, overrides(args, **extra),
                                overrides_source="command line")
    container.observer.override(providers.Object(observer))
    downloader: SmartTokenizerDownload = container.downloader()
    return downloader


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


def note(args: argparse.Namespace, text: str) -> None:
    """Informational text on stderr (silenced by ``--quiet``), never mixed with data."""
    if not args.quiet:
        print(text, file=sys.stderr)


def command_observer(args: argparse.Namespace
                     ) -> tuple[AcquisitionObserver, ProgressBarObserver | None]:
    """Logs always (filtered by level); progress bars only on a terminal without --quiet."""
    from ..adapters.structlog_observer import StructlogObserver

    observers: list[AcquisitionObserver] = [StructlogObserver()]
    progress = None
    if not args.quiet and sys.stderr.isatty():
        from ..adapters.terminal_progress import ProgressBarObserver

        progress = ProgressBarObserver(sys.stderr)
        observers.insert(0, progress)
    return FanOutObserver(observers), progress


class _Stderr:
    """Looks ``sys.stderr`` up at each write, so a replaced stream is honoured."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(args: argparse.Namespace) -> None:
    """The application configures structlog (the library never does): stderr only."""
    import logging

    import structlog

    from ..redaction import redact_secrets

    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.ERROR
    structlog.configure(
        processors=[redact_secrets, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="%H:%M:%S"),
                    structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
