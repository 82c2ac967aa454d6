"""``tokacq fetch``, ``tokacq ls`` and ``tokacq lock``: acquire through the configured strategies.

Without ``-f``, the tokenizer's files are discovered (the repo is listed, the preset
picks them; ``--include/--exclude`` adjust it). The token never appears on the command
line: ``--token-file PATH`` or ``--token -`` (read from stdin).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..domain.cache_key import default_cache_key
from ..domain.errors import ConfigurationError
from ..domain.request import TokenizerDownloadInfo
from ..settings import STRATEGY_NAMES
from .cli_support import build_downloader, command_observer, note, print_json, safe

if TYPE_CHECKING:
    from ..domain.results import AcquisitionPlan, AcquisitionResult
    from ..facade import SmartTokenizerDownload

T = TypeVar("T")


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    fetch = commands.add_parser(
        "fetch", parents=[common], help="acquire a tokenizer and print its primary file",
        description="Acquire a tokenizer's files through the configured strategies and print "
                    "the primary file's path (--json: the whole result).")
    fetch.add_argument("repo", nargs="?", help="'org/name' or 'name' (omit with --lock)")
    _request_options(fetch)
    fetch.add_argument("--cache-key", metavar="K",
                       help="cache directory name (default: org--name[--revision])")
    fetch.add_argument("--expected-vocab", type=int, metavar="N",
                       help="fail unless the tokenizer's vocabulary has N entries")
    fetch.add_argument("--sha256", action="append", default=[], metavar="FILE=HEX",
                       help="pin a file's sha256 (repeatable)")
    fetch.add_argument("--lock", metavar="FILE",
                       help="fetch exactly the commits and hashes of a lock file")
    fetch.add_argument("--dry-run", action="store_true",
                       help="print the resolved commit, the files with their sizes and what "
                            "is cached; download and write nothing")
    fetch.add_argument("--local-dir", metavar="DIR",
                       help="also place the files in DIR as plain files (hard links to the "
                            "cache when possible)")
    fetch.add_argument("--refresh", action="store_true",
                       help="resolve the branch again even when the cache holds a set for it")
    _strategy_options(fetch)
    _network_options(fetch)
    fetch.set_defaults(handler=run_fetch, parser=fetch)

    ls = commands.add_parser(
        "ls", parents=[common], help="list the files a fetch would select, with sizes",
        description="List the repo at the revision and print what the tokenizer preset "
                    "(and --include/--exclude) would select, with sizes and what is cached; "
                    "downloads nothing.")
    ls.add_argument("repo", help="'org/name' or 'name'")
    ls.add_argument("--revision", metavar="R", help="branch, tag or commit (default: main)")
    ls.add_argument("--cache-key", metavar="K",
                    help="cache directory name to compare with (default: org--name[--revision])")
    _pattern_options(ls)
    _strategy_options(ls)
    _network_options(ls)
    ls.set_defaults(handler=run_ls, parser=ls, files=None, refresh=False)

    lock = commands.add_parser(
        "lock", parents=[common], help="write a lock file from what was fetched",
        description="Fetch each repo through the normal path, then record repo, revision, "
                    "commit, file, size and sha256 of every file in a TOML lock file.")
    lock.add_argument("repos", nargs="+", metavar="REPO")
    _request_options(lock)
    lock.add_argument("-o", "--output", default="tokenizers.lock", metavar="FILE",
                      help="where to write the lock file ('-' for stdout; "
                           "default: tokenizers.lock)")
    _strategy_options(lock)
    lock.set_defaults(handler=run_lock, parser=lock)


def _request_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--file", action="append", dest="files", metavar="FILE",
                        help="a file to fetch, required (repeatable; default: discover the "
                             "tokenizer's files with the preset)")
    parser.add_argument("--revision", metavar="R", help="branch, tag or commit (default: main)")
    _pattern_options(parser)


def _pattern_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--include", action="append", default=[], metavar="PATTERN",
                        help="also take repo files matching this fnmatch pattern "
                             "(repeatable; 'dir/' means everything under dir)")
    parser.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                        help="never take discovered files matching this pattern (repeatable)")


def _network_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", metavar="URL",
                        help="the Hub or mirror (overrides network.endpoint and HF_ENDPOINT)")
    parser.add_argument("--token-file", metavar="PATH",
                        help="read the token from this file (overrides network.token_file)")
    parser.add_argument("--token", metavar="-",
                        help="'-': read the token from stdin (a token value is never "
                             "accepted on the command line)")
    parser.add_argument("--max-workers", type=int, metavar="N",
                        help="files downloaded at once (network.max_concurrent_files)")


def _strategy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strategy", choices=STRATEGY_NAMES,
                        help="use this strategy instead of the configured one")
    parser.add_argument("--offline", action="store_true",
                        help="never touch the network (like HF_HUB_OFFLINE=1)")


def _network_overrides(args: argparse.Namespace) -> dict[str, Any] | None:
    """``--endpoint``, ``--token-file``, ``--token -`` and ``--max-workers`` as settings."""
    values: dict[str, Any] = {}
    if getattr(args, "endpoint", None):
        values["endpoint"] = args.endpoint
    if getattr(args, "token_file", None):
        values["token_file"] = args.token_file
    token = getattr(args, "token", None)
    if token is not None:
        if token != "-":
            args.parser.error("--token takes '-' (the token is read from stdin); a token "
                              "value on the command line would be visible to other users "
                              "(ps, shell history): use --token - or --token-file")
        if getattr(args, "token_file", None):
            args.parser.error("give --token - or --token-file, not both")
        values["token"] = sys.stdin.readline().strip()
        if not values["token"]:
            args.parser.error("--token -: no token on stdin")
    workers = getattr(args, "max_workers", None)
    if workers is not None:
        if workers < 1:
            args.parser.error("--max-workers must be at least 1")
        values["max_concurrent_files"] = workers
    return values or None


def _run(args: argparse.Namespace, work: Callable[[SmartTokenizerDownload], Awaitable[T]]) -> T:
    observer, progress = command_observer(args)
    downloader = build_downloader(args, observer, strategy=args.strategy,
                                  offline=True if args.offline else None,
                                  network=_network_overrides(args))

    async def go() -> T:
        try:
            return await work(downloader)
        finally:
            await downloader.aclose()

    try:
        return asyncio.run(go())
    finally:
        if progress is not None:
            progress.close()


def _result_doc(key: str, result: AcquisitionResult) -> dict[str, Any]:
    return {"cache_key": key, **result.to_dict()}


def run_fetch(args: argparse.Namespace) -> int:
    if args.lock:
        given = [opt for opt, value in (("REPO", args.repo), ("--file", args.files),
                                        ("--revision", args.revision),
                                        ("--cache-key", args.cache_key),
                                        ("--sha256", args.sha256),
                                        ("--expected-vocab", args.expected_vocab),
                                        ("--include", args.include),
                                        ("--exclude", args.exclude),
                                        ("--dry-run", args.dry_run),
                                        ("--local-dir", args.local_dir),
                                        ("--refresh", args.refresh)) if value]
        if given:
            args.parser.error(f"--lock fetches what the lock file says; drop {', '.join(given)}")
        from ..facade import read_lock_file

        lock = read_lock_file(args.lock)
        results = _run(args, lambda d: d.acquire_locked(lock))
        docs = [_result_doc(i.cache_key, r)
                for i, r in zip(lock.requests(), results, strict=True)]
        if args.json:
            print_json({"lock_file": args.lock, "results": docs})
        else:
            for r in results:
                print(r.path)
        return 0
    if not args.repo:
        args.parser.error("give a REPO to fetch, or --lock FILE")
    info = _request(args, args.repo, sha256=_pins(args))
    if args.dry_run:
        if args.local_dir:
            args.parser.error("--dry-run writes nothing; drop --local-dir")
        return _print_plan(args, _run(args, lambda d: d.plan(info)))
    result = _run(args, lambda d: d.acquire(info))
    exported = None
    if args.local_dir:
        from ..adapters.local_export import export_files

        exported = export_files(result.files, Path(args.local_dir))
        if exported.replaced:
            note(args, f"replaced {len(exported.replaced)} existing file(s) in "
                       f"{args.local_dir}: {', '.join(exported.replaced)}")
    if args.json:
        doc = _result_doc(info.cache_key, result)
        if exported is not None:
            doc["local_dir"] = {"directory": str(exported.directory), "linked": exported.linked,
                                "files": {n: str(p) for n, p in exported.files.items()},
                                "replaced": list(exported.replaced)}
        print_json(doc)
    else:
        print(exported.files[_primary(result)] if exported else result.path)
    return 0


def _primary(result: AcquisitionResult) -> str:
    return next(name for name, path in result.files.items() if path == result.path)


def run_ls(args: argparse.Namespace) -> int:
    info = _request(args, args.repo)
    return _print_plan(args, _run(args, lambda d: d.plan(info)))


def _print_plan(args: argparse.Namespace, plan: AcquisitionPlan) -> int:
    if args.json:
        print_json(plan.to_dict())
        return 0
    commit = plan.commit or "unknown"
    print(safe(f"{plan.repo} at {plan.revision} (commit {commit}), from {plan.source}"))
    width = max(len(_size(f.size)) for f in plan.files)
    for planned in plan.files:
        state = "cached" if planned.cached else "to fetch"
        print(safe(f"{_size(planned.size):>{width}}  {state:8}  {planned.name}"))
    for name in plan.skipped:
        print(safe(f"{'-':>{width}}  {'absent':8}  {name} (optional)"))
    total = plan.download_bytes
    pending = len(plan.to_download)
    print(f"{pending} of {len(plan.files)} files to fetch"
          + (f", {_size(total)}" if total is not None and pending else ""))
    return 0


def _size(size: int | None) -> str:
    if size is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def _request(args: argparse.Namespace, repo: str, *,
             sha256: dict[str, str] | None = None) -> TokenizerDownloadInfo:
    revision = args.revision or "main"
    return TokenizerDownloadInfo(
        repo=repo,
        cache_key=getattr(args, "cache_key", None) or default_cache_key(repo, revision),
        files=tuple(args.files) if args.files else None,
        expected_vocab=getattr(args, "expected_vocab", None),
        revision=revision,
        sha256=sha256 or None,
        include=tuple(args.include),
        exclude=tuple(args.exclude),
        refresh=bool(getattr(args, "refresh", False)),
    )


def _pins(args: argparse.Namespace) -> dict[str, str]:
    pins: dict[str, str] = {}
    for spec in args.sha256:
        file, sep, digest = spec.rpartition("=")
        if not sep or not file or not digest:
            args.parser.error(f"--sha256 expects FILE=HEX, got {spec!r}")
        pins[file] = digest
    return pins


# -- lock ------------------------------------------------------------------------------------

def run_lock(args: argparse.Namespace) -> int:
    repos = list(dict.fromkeys(args.repos))  # a repo named twice is locked once
    if len(repos) < len(args.repos):
        twice = sorted({r for r in args.repos if args.repos.count(r) > 1})
        note(args, f"{', '.join(twice)} given more than once; locking each once")
    if args.output != "-":
        _check_output(Path(args.output))
    requests = [_request(args, repo) for repo in repos]

    lock = _run(args, lambda d: d.lock(requests))
    entries = lock.entries
    text = lock.to_toml()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        _write(Path(args.output), text)
    if args.json and args.output != "-":
        print_json({"lock_file": args.output, "entries": [e.to_dict() for e in lock.entries]})
    elif args.output != "-":
        note(args, f"wrote {args.output}: {len(entries)} files of {len(requests)} repos")
    return 0


def _check_output(path: Path) -> None:
    """Before anything is fetched: the lock file's directory must exist (it is never made)."""
    if not path.parent.is_dir():
        raise ConfigurationError(
            f"cannot write the lock file: the directory {path.parent} does not exist",
            key="output", value=str(path), source="--output",
            suggestions=[f"create {path.parent} first, or choose another -o/--output"])


def _write(path: Path, text: str) -> None:
    from ..adapters.filesystem_cache import write_atomically

    _check_output(path)
    try:
        write_atomically(path, text.encode("utf-8"), make_parents=False)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the lock file ({exc.strerror or exc})",
                                 key="output", value=str(path), source="--output") from None
