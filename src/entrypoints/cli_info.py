"""``tokacq info``: what this build and configuration can do, and where each setting came from.

Builds the configured strategies without acquiring anything. The token's value is never
shown: only whether one is set and where it came from.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..domain.errors import AcquisitionUnavailable
from ..domain.results import StrategyStatus
from .cli_support import build_downloader, load, print_json

if TYPE_CHECKING:
    from ..settings import Settings


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    info = commands.add_parser(
        "info", parents=[common], help="show strategies, availability and settings",
        description="Every configured strategy, whether it is available and why not, its "
                    "requirements, the cache directory, and where each setting came from.")
    info.set_defaults(handler=run_info, parser=info)


def run_info(args: argparse.Namespace) -> int:
    settings = load(args)
    doc = describe(args, settings)
    if args.json:
        print_json(doc)
    else:
        _print_text(doc)
    return 0


def describe(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from ..domain.observers import FanOutObserver

    try:
        info = build_downloader(args, FanOutObserver([])).acquisition_info()
        strategies = info.strategies
        available, description = info.available, info.description
    except AcquisitionUnavailable as error:  # e.g. strategy = "network" without aiohttp
        strategies = (StrategyStatus(error.strategy, "", False, error.requirements,
                                     error.reason, uses_network=True),)
        available, description = False, f"{settings.strategy}: unavailable"
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "aiohttp_installed": importlib.util.find_spec("aiohttp") is not None,
        "config_file": None if settings.config_file is None else str(settings.config_file),
        "strategy": settings.strategy,
        "description": description,
        "available": available,
        "cache_dir": str(settings.cache_dir),
        "strategies": [_status(s) for s in strategies],
        "s3": _s3(settings),
        "settings": _settings(settings),
    }


def _s3(settings: Settings) -> dict[str, Any] | None:
    """The bucket and what the identity may do there, probed without writing (a GET and
    a PUT whose ``If-Match`` can never hold: see ``S3ObjectStore.probe``)."""
    if settings.s3 is None:
        return None
    from ..strategies import _s3_missing, s3_installed

    doc: dict[str, Any] = {"bucket": settings.s3.location,
                           "endpoint": settings.s3.endpoint_url, "access": None,
                           "unavailable": None}
    if not s3_installed():
        doc["unavailable"] = _s3_missing()
        return doc
    if settings.offline_source is not None:
        doc["unavailable"] = f"offline mode is on ({settings.offline_source})"
        return doc
    import asyncio

    from ..adapters.s3_bucket import S3ObjectStore

    store = S3ObjectStore(settings.s3, settings.network)

    async def probe() -> str:
        try:
            return (await store.probe()).describe()
        finally:
            await store.aclose()

    doc["access"] = asyncio.run(probe())
    return doc


def _status(s: StrategyStatus) -> dict[str, Any]:
    return {"name": s.name, "available": s.available, "reason": s.reason,
            "uses_network": s.uses_network, "description": s.description,
            "requirements": list(s.requirements)}


def _source(settings: Settings, key: str) -> str:
    return settings.sources.get(key, "default")


def _settings(settings: Settings) -> list[dict[str, Any]]:
    """Every setting ``tokacq info`` shows (``SETTINGS``' rows with ``shown``), in table
    order; the ``[s3]`` rows only when a bucket is configured."""
    from ..settings import SETTINGS

    sections: dict[str, Any] = {"": settings, "network": settings.network, "s3": settings.s3}
    return [{"key": row.key, "value": row.shown(sections[row.section]),
             "source": _source(settings, row.key)}
            for row in SETTINGS
            if row.shown is not None and sections[row.section] is not None]


def _print_text(doc: dict[str, Any]) -> None:
    print(f"tokenizer-acquisition {doc['version']} (Python {doc['python']}, aiohttp "
          f"{'installed' if doc['aiohttp_installed'] else 'not installed'})")
    print(f"config file: {doc['config_file'] or 'none'}")
    print(f"cache dir:   {doc['cache_dir']}")
    state = "available" if doc["available"] else "NOT available"
    print(f"strategy:    {doc['description']} ({state})")
    print("\nstrategies:")
    for s in doc["strategies"]:
        status = "available" if s["available"] else f"unavailable: {s['reason']}"
        print(f"  {s['name']:<11} {status}")
        if s["description"]:
            print(f"  {'':<11} {s['description']}")
        for requirement in s["requirements"]:
            print(f"  {'':<11} needs: {requirement}")
    if doc.get("s3"):
        s3 = doc["s3"]
        print(f"\ns3 bucket:   {s3['bucket']} (endpoint {s3['endpoint'] or 'AWS'})")
        print(f"  access:    {s3['access'] or 'unavailable: ' + str(s3['unavailable'])}")
    print("\nsettings (value, source):")
    width = max(len(row["key"]) for row in doc["settings"])
    for row in doc["settings"]:
        value = row["value"]
        shown = ", ".join(value) if isinstance(value, list) else value
        print(f"  {row['key']:<{width}}  {shown}  ({row['source']})")
