"""``tokacq cache list | verify | prune | path``: look after the cache without the network.

None of these commands builds a strategy, so none of them imports aiohttp.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from ..adapters.terminal_progress import human_size
from .cli_support import load, note, print_json
from .exit_codes import ExitCode

if TYPE_CHECKING:
    from ..adapters.cache_inventory import CacheInventory


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    cache = commands.add_parser("cache", help="list, verify, prune the cache",
                                description="Maintain the cache (no network access).")
    actions = cache.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", parents=[common], help="keys, files, sizes, origins")
    listing.set_defaults(handler=run_list)

    verify = actions.add_parser(
        "verify", parents=[common], help="re-hash files against the manifest",
        description="Re-hash every recorded file against the manifest's sha256 and size; "
                    f"exit {int(ExitCode.INTEGRITY)} naming each corrupt or missing file.")
    verify.add_argument("key", nargs="?", help="only this cache key (default: all)")
    verify.set_defaults(handler=run_verify)

    prune = actions.add_parser("prune", parents=[common], help="remove cached tokenizers",
                               description="Remove one key, every key, or only interrupted "
                                           "downloads. Waits for a download holding the key.")
    which = prune.add_mutually_exclusive_group(required=True)
    which.add_argument("key", nargs="?", help="the cache key to remove")
    which.add_argument("--all", action="store_true", help="remove every cached tokenizer")
    which.add_argument("--partials", action="store_true",
                       help="remove only interrupted downloads (.tokacq/partials)")
    prune.set_defaults(handler=run_prune)

    path = actions.add_parser("path", parents=[common], help="print a key's directory")
    path.add_argument("key")
    path.set_defaults(handler=run_path)


def _inventory(args: argparse.Namespace) -> CacheInventory:
    from ..adapters.cache_inventory import CacheInventory
    from ..adapters.filesystem_cache import FileSystemCache

    settings = load(args)
    return CacheInventory(FileSystemCache(settings.cache_dir), settings.lock_timeout)


def run_list(args: argparse.Namespace) -> int:
    inventory = _inventory(args)
    entries = inventory.list()
    if args.json:
        print_json({"cache_dir": str(inventory.cache.root),
                    "keys": [e.to_dict() for e in entries]})
        return 0
    if not entries:
        note(args, f"the cache at {inventory.cache.root} is empty")
        return 0
    rows = [(e.key, str(len(e.files)), human_size(e.size), ", ".join(e.repos) or "-",
             ", ".join(c[:12] for c in e.commits) or "-", _when(e.fetched_at)) for e in entries]
    header = ("KEY", "FILES", "SIZE", "REPO", "COMMIT", "FETCHED")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def run_verify(args: argparse.Namespace) -> int:
    inventory = _inventory(args)
    verdict = inventory.verify(args.key)
    if args.json:
        print_json({"cache_dir": str(inventory.cache.root), "ok": verdict.ok,
                    "checks": [c.to_dict() for c in verdict.checks]})
    else:
        for check in verdict.checks:
            detail = f": {check.detail}" if check.detail else ""
            print(f"{check.status.upper() if check.failed else check.status:<10} "
                  f"{check.key}/{check.file}{detail}")
        problems = len(verdict.problems)
        note(args, f"{len(verdict.checks)} files checked, {problems} corrupt or missing"
             + ("; re-fetch them (tokacq cache prune KEY, then tokacq fetch)"
                if problems else ""))
    return ExitCode.OK if verdict.ok else ExitCode.INTEGRITY


def run_prune(args: argparse.Namespace) -> int:
    inventory = _inventory(args)
    if args.all:
        report = inventory.prune_all()
    elif args.partials:
        report = inventory.prune_partials()
    else:
        report = inventory.prune(args.key)
    if args.json:
        print_json({"cache_dir": str(inventory.cache.root), **report.to_dict()})
    else:
        for key in report.keys:
            print(f"removed {key}")
        note(args, f"removed {len(report.keys)} keys ({human_size(report.bytes_freed)}) and "
             f"{report.partials} partial downloads from {inventory.cache.root}")
    return 0


def run_path(args: argparse.Namespace) -> int:
    inventory = _inventory(args)
    key = inventory.require(args.key)
    directory = inventory.cache.directory(key)
    if args.json:
        print_json({"key": key, "path": str(directory)})
    else:
        print(directory)
    return 0
