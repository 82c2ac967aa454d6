"""``tokacq cache list | verify | prune | path``: look after the cache without the network.

None of these commands builds a strategy, so none of them imports aiohttp.

- A ``cache_dir`` that is a regular file, or a cache (or its ``.tokacq``) that cannot be
  read, is ``CacheWriteError`` (exit 8) for every command, never an empty listing.
- ``verify`` exits 6 when a file is corrupt, missing or unreadable; files it has nothing
  to verify against (placed by hand, not in the manifest) are listed as ``unverified``
  and do not fail it.
- ``prune`` removes only what the tool manages; a directory placed by hand only with
  ``--include-unmanaged``. ``--all`` asks on a terminal and needs ``--yes`` otherwise
  (``ConfigurationError``, exit 2, nothing removed); ``--dry-run`` prints every path it
  would remove and removes nothing.
- ``prune --older-than 30d`` / ``--keep-size 10GB`` remove whole managed keys, least
  recently used first (both: old keys go, then more until the cache fits); they ask and
  need ``--yes`` as ``--all`` does. Durations take s, m, h, d, w; sizes B, kB, MB, GB, TB
  (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024); a bad value is
  ``ConfigurationError`` (exit 2).
- ``list --sort size|name|accessed --filter PATTERN``; "accessed" is measured without
  writing on the hit path: the newest atime of the key's snapshot files where the
  filesystem keeps atimes, else when the snapshot was created
  (``adapters/cache_inventory.py``).
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..adapters.terminal_progress import human_size
from ..domain.errors import ConfigurationError
from .cli_support import load, note, print_json, safe
from .exit_codes import ExitCode

if TYPE_CHECKING:
    from ..adapters.cache_inventory import CachedTokenizer, CacheInventory, PruneReport


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    cache = commands.add_parser("cache", help="list, verify, prune the cache",
                                description="Maintain the cache (no network access).")
    actions = cache.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list", parents=[common], help="keys, files, sizes, origins",
        description="Every key: managed (fetched by tokacq) or placed by hand, repo, "
                    "revision, commit, size and problems; with KEY, each file with its size "
                    "and sha256.")
    listing.add_argument("key", nargs="?", help="only this cache key, file by file")
    listing.add_argument("--sort", choices=SORTS, default="name",
                         help="name (default); size: largest first; accessed: least "
                              "recently used first (the order prune --keep-size removes)")
    listing.add_argument("--filter", metavar="PATTERN",
                         help="only keys whose name or repo matches this shell pattern "
                              "('org--*', 'sentence-transformers/*')")
    listing.epilog = ACCESSED_HELP
    listing.set_defaults(handler=run_list)

    verify = actions.add_parser(
        "verify", parents=[common], help="re-hash files against the manifest",
        description="Re-hash every file of every managed key against its manifest's sha256 "
                    f"and size; exit {int(ExitCode.INTEGRITY)} naming each corrupt, missing "
                    "or unreadable file. Files with nothing to verify against (placed by "
                    "hand, not in the manifest) are listed as unverified and do not fail.")
    verify.add_argument("key", nargs="?", help="only this cache key (default: all)")
    verify.set_defaults(handler=run_verify)

    prune = actions.add_parser(
        "prune", parents=[common], help="remove cached tokenizers",
        description="Remove one key, every key, or only leftovers. Removes only what tokacq "
                    "manages: a directory placed by hand only with --include-unmanaged. "
                    "Waits for a download holding a key.")
    # KEY, --all or --partials; or --older-than and/or --keep-size (checked in run_prune).
    which = prune.add_mutually_exclusive_group()
    which.add_argument("key", nargs="?", help="the cache key to remove")
    which.add_argument("--all", action="store_true",
                       help="remove every managed key (asks first; --yes when not on a terminal)")
    which.add_argument("--partials", action="store_true",
                       help="remove only leftovers: interrupted downloads, temporary files, "
                            "superseded snapshots, unused blobs")
    prune.add_argument("--older-than", metavar="AGE",
                       help="remove managed keys not accessed for AGE (30d, 12h, 2w; units "
                            "s, m, h, d, w)")
    prune.add_argument("--keep-size", metavar="SIZE",
                       help="remove managed keys, least recently used first, until the "
                            "cache takes at most SIZE on disk (10GB, 500MiB; units B, kB, "
                            "MB, GB, TB, KiB, MiB, GiB, TiB)")
    prune.add_argument("--include-unmanaged", action="store_true",
                       help="also delete directories placed by hand (with KEY or --all)")
    prune.add_argument("-n", "--dry-run", action="store_true",
                       help="print what would be removed; remove nothing")
    prune.add_argument("-y", "--yes", action="store_true",
                       help="do not ask before --all, --older-than or --keep-size")
    prune.epilog = ACCESSED_HELP
    prune.set_defaults(handler=run_prune, parser=prune)

    path = actions.add_parser("path", parents=[common], help="print a key's directory")
    path.add_argument("key")
    path.set_defaults(handler=run_path)


SORTS = ("name", "size", "accessed")
ACCESSED_HELP = (
    "Last access is the newest access time (atime) of the key's snapshot files, i.e. when an "
    "application last read them, where the filesystem keeps atimes (relatime: at most daily "
    "updates; noatime: never), and otherwise when the snapshot was created or fetched. "
    "Cache hits only stat files and never write, so read-only caches keep working.")

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
               "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
_AMOUNT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*")


def parse_duration(text: str, key: str = "older_than") -> float:
    """``30d`` -> seconds; units s, m, h, d, w (``1.5h`` too); ``ConfigurationError``
    for anything else (a bare number is refused: seconds or days?)."""
    match = _AMOUNT.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _DURATION_UNITS:
        raise ConfigurationError(
            f"{text!r} is not a duration", key=key, value=text, source="command line",
            suggestions=("a number and a unit: s, m, h, d or w (30d, 12h, 2w)",))
    return float(match.group(1)) * _DURATION_UNITS[unit]


def parse_size(text: str, key: str = "keep_size") -> int:
    """``10GB`` -> bytes; units B, kB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB
    (powers of 1024), any case; ``ConfigurationError`` for anything else."""
    match = _AMOUNT.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZE_UNITS:
        raise ConfigurationError(
            f"{text!r} is not a size", key=key, value=text, source="command line",
            suggestions=("a number and a unit: B, kB, MB, GB, TB, KiB, MiB, GiB or TiB "
                         "(10GB, 500MiB)",))
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def _inventory(args: argparse.Namespace) -> CacheInventory:
    from ..adapters.cache_inventory import CacheInventory
    from ..adapters.filesystem_cache import FileSystemCache

    settings = load(args)
    return CacheInventory(FileSystemCache(settings.cache_dir), settings.lock_timeout)


def run_list(args: argparse.Namespace) -> int:
    inventory = _inventory(args)
    if args.key is not None:
        entries = [inventory.describe(inventory.require(args.key))]
    else:
        entries = inventory.list()
    entries = _sorted(_matching(entries, args.filter), args.sort)
    if args.json:
        print_json({"cache_dir": str(inventory.cache.root),
                    "keys": [e.to_dict() for e in entries]})
        return ExitCode.OK
    if not entries:
        what = "has no key matching " + repr(args.filter) if args.filter else "is empty"
        note(args, safe(f"the cache at {inventory.cache.root} {what}"))
        return ExitCode.OK
    if args.key is not None:
        _print_key(entries[0])
        return ExitCode.OK
    rows = [(e.key, _KINDS.get(e.kind, e.kind), str(len(e.files)), human_size(e.size),
             e.repo or "-", e.revision or "-", (e.commit or "-")[:12],
             _when(e.created_at or e.fetched_at), _when(e.accessed_at)) for e in entries]
    _table(("KEY", "KIND", "FILES", "SIZE", "REPO", "REVISION", "COMMIT", "FETCHED",
            "ACCESSED"), rows)
    for entry in entries:
        for problem in entry.problems:
            print(safe(f"problem: {entry.key}: {problem}", keep_newlines=False))
    return ExitCode.OK


_KINDS = {"managed": "managed", "unmanaged": "by hand", "leftover": "leftover"}


def _matching(entries: list[CachedTokenizer], pattern: str | None) -> list[CachedTokenizer]:
    """Entries whose key or repo matches the shell pattern (case-sensitive)."""
    if pattern is None:
        return entries
    return [e for e in entries if fnmatch.fnmatchcase(e.key, pattern)
            or (e.repo is not None and fnmatch.fnmatchcase(e.repo, pattern))]


def _sorted(entries: list[CachedTokenizer], order: str) -> list[CachedTokenizer]:
    if order == "size":
        return sorted(entries, key=lambda e: (-e.size, e.key))
    if order == "accessed":  # least recently used first; never accessed before all
        return sorted(entries, key=lambda e: (e.accessed_at is not None,
                                              e.accessed_at or 0.0, e.key))
    return sorted(entries, key=lambda e: e.key)


def _print_key(entry: CachedTokenizer) -> None:
    facts = [("key", entry.key), ("kind", _KINDS.get(entry.kind, entry.kind)),
             ("directory", str(entry.directory)), ("repo", entry.repo or "-"),
             ("revision", entry.revision or "-"), ("commit", entry.commit or "-"),
             ("created", _when(entry.created_at)),
             ("accessed", _when(entry.accessed_at)
              + (f" ({entry.accessed_from})" if entry.accessed_from else "")),
             ("size", human_size(entry.size))]
    for name, value in facts:
        print(safe(f"{name + ':':<11}{value}", keep_newlines=False))
    for problem in entry.problems:
        print(safe(f"problem:   {problem}", keep_newlines=False))
    rows = [(f.name, "-" if f.size is None else str(f.size),
             (f.entry.sha256 or "-") if f.entry else "not in the manifest",
             _when(f.entry.fetched_at if f.entry else None)) for f in entry.files]
    if rows:
        print()
        _table(("FILE", "SIZE", "SHA256", "FETCHED"), rows)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    cells = [tuple(safe(c, keep_newlines=False) for c in row) for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
    except (OverflowError, OSError, ValueError):  # a manifest's far-off time
        return repr(timestamp)


def run_verify(args: argparse.Namespace) -> int:
    inventory = _inventory(args)
    verdict = inventory.verify(args.key)
    if args.json:
        print_json({"cache_dir": str(inventory.cache.root), "ok": verdict.ok,
                    "checks": [c.to_dict() for c in verdict.checks]})
    else:
        for check in verdict.checks:
            detail = f": {check.detail}" if check.detail else ""
            status = check.status.upper() if check.failed else check.status
            print(safe(f"{status:<10} {check.key}/{check.file}{detail}", keep_newlines=False))
        problems, unverified = len(verdict.problems), len(verdict.unverified)
        note(args, f"{len(verdict.checks)} files checked, {problems} corrupt, missing or "
             f"unreadable, {unverified} unverified (nothing to verify against; not a failure)"
             + ("; re-fetch them (tokacq cache prune KEY, then tokacq fetch)"
                if problems else ""))
    return ExitCode.OK if verdict.ok else ExitCode.INTEGRITY


def _retention(args: argparse.Namespace) -> tuple[float | None, int | None] | None:
    """(older_than seconds, keep_size bytes) when either filter is given, else None;
    exactly one way of choosing what goes, checked here (not by argparse, since the two
    filters combine)."""
    filters = args.older_than is not None or args.keep_size is not None
    chosen = [name for name, given in (("KEY", args.key is not None), ("--all", args.all),
                                        ("--partials", args.partials)) if given]
    if bool(filters) == bool(chosen):
        # A usage error, as argparse's own group check reported it before (exit 2).
        args.parser.error((
            f"argument {chosen[0]}: not allowed with --older-than or --keep-size (they "
            "choose the keys themselves)") if chosen else (
            "one of the arguments KEY --all --partials --older-than --keep-size is required"))
    if not filters:
        return None
    if args.include_unmanaged:
        raise ConfigurationError("--include-unmanaged does not apply to --older-than or "
                                 "--keep-size: they remove only managed keys",
                                 key="include_unmanaged", value=True, source="command line",
                                 suggestions=("name the KEY, or use --all",))
    older = None if args.older_than is None else parse_duration(args.older_than)
    size = None if args.keep_size is None else parse_size(args.keep_size)
    return older, size


def run_prune(args: argparse.Namespace) -> int:
    retention = _retention(args)
    if retention is not None:
        return _run_retention(args, *retention)
    if args.partials and args.include_unmanaged:
        raise ConfigurationError("--include-unmanaged does not apply to --partials",
                                 key="include_unmanaged", value=True,
                                 suggestions=("name the KEY, or use --all",))
    if args.all and not args.dry_run and not args.yes and not _confirmed(args):
        raise ConfigurationError(
            "prune --all removes every managed tokenizer and was not confirmed; nothing "
            "was removed", key="yes", value=False,
            suggestions=("pass --yes (-y) to confirm, or --dry-run to see what would go",))
    inventory = _inventory(args)
    if args.all:
        report = inventory.prune_all(include_unmanaged=args.include_unmanaged,
                                     dry_run=args.dry_run)
    elif args.partials:
        report = inventory.prune_partials(dry_run=args.dry_run)
    else:
        report = inventory.prune(args.key, include_unmanaged=args.include_unmanaged,
                                 dry_run=args.dry_run)
    if args.json:
        print_json({"cache_dir": str(inventory.cache.root), **report.to_dict()})
    else:
        _print_prune(args, inventory, report)
    return ExitCode.OK


def _run_retention(args: argparse.Namespace, older_than: float | None,
                   keep_size: int | None) -> int:
    inventory = _inventory(args)
    if not args.dry_run and not args.yes and not _confirmed(args, older_than, keep_size):
        raise ConfigurationError(
            "prune --older-than/--keep-size removes managed tokenizers and was not "
            "confirmed; nothing was removed", key="yes", value=False, source="command line",
            suggestions=("pass --yes (-y) to confirm, or --dry-run to see what would go",))
    report = inventory.prune_unused(older_than=older_than, keep_size=keep_size,
                                    dry_run=args.dry_run)
    if args.json:
        print_json({"cache_dir": str(inventory.cache.root), **report.to_dict()})
        return ExitCode.OK
    _print_prune(args, inventory, report)
    if keep_size is not None and report.size_before is not None:
        left = report.size_before - report.bytes_freed
        note(args, safe(f"the cache {'would take' if report.dry_run else 'takes'} "
                        f"{human_size(left)} (limit {human_size(keep_size)})"
                        + ("" if report.fits else ": still over the limit once every "
                           "managed key is gone (leftovers and directories placed by hand "
                           "count; see --partials)"), keep_newlines=False))
    return ExitCode.OK


def _confirmed(args: argparse.Namespace, older_than: float | None = None,
               keep_size: int | None = None) -> bool:
    """Ask on a terminal; never read a pipe (a script must say --yes)."""
    if not sys.stdin.isatty():
        return False
    inventory = _inventory(args)
    if older_than is None and keep_size is None:
        plan = inventory.prune_all(include_unmanaged=args.include_unmanaged, dry_run=True)
    else:
        plan = inventory.prune_unused(older_than=older_than, keep_size=keep_size,
                                      dry_run=True)
        if not plan.keys:
            return True  # nothing to remove: nothing to ask
    keys = plan.keys + plan.unmanaged
    print(safe(f"this removes {len(keys)} keys ({', '.join(keys) or 'none'}) and "
               f"{plan.partials} leftover files from {inventory.cache.root}, freeing "
               f"{human_size(plan.bytes_freed)}"
               + (f"; keeps {len(plan.kept)} placed by hand" if plan.kept else ""),
               keep_newlines=False), file=sys.stderr)
    print("remove them? [y/N] ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _print_prune(args: argparse.Namespace, inventory: CacheInventory,
                 report: PruneReport) -> None:
    verb = "would remove" if report.dry_run else "removed"
    if report.dry_run:
        for path in report.paths:
            print(safe(f"would remove {path}", keep_newlines=False))
    for key in report.keys:
        print(safe(f"{verb} {key}", keep_newlines=False))
    for key in report.unmanaged:
        print(safe(f"{verb} {key} (placed by hand: the directory and everything in it)",
                   keep_newlines=False))
    for key in report.kept:
        print(safe(f"kept {key} (placed by hand; --include-unmanaged removes it)",
                   keep_newlines=False))
    note(args, safe(f"{verb} {len(report.keys) + len(report.unmanaged)} keys, "
                    f"{report.snapshots} snapshots, {report.partials} leftover files and "
                    f"{report.blobs} blobs ({human_size(report.bytes_freed)}) from "
                    f"{inventory.cache.root}", keep_newlines=False))


def run_path(args: argparse.Namespace) -> int:
    inventory = _inventory(args)
    key = inventory.require(args.key)
    directory = inventory.cache.directory(key)
    if args.json:
        print_json({"key": key, "path": str(directory)})
    else:
        print(safe(str(directory), keep_newlines=False))
    return ExitCode.OK
