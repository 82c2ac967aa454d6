"""``tokacq demo``: the whole story on a machine with no internet, in a few seconds.

A Hub simulator on loopback (in this process, in this event loop) serves a small real
tokenizer shipped as package data (``demo_data/``, all-MiniLM-L6-v2, Apache-2.0). The
demo acquires it through the network strategy into a temporary cache, again (a cache
hit: zero requests), then offline with the simulator stopped, and prints for each step
the strategy, whether it came from the cache, the time, the bytes and the requests the
simulator saw. The vocabulary (30522) is checked on every step.

Nothing of the user's is read or written: no configuration file, no environment (token,
endpoint, proxies), no cache; the temporary directory is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..adapters.terminal_progress import human_size
from ..domain.options import NetworkOptions
from ..domain.request import TokenizerDownloadInfo
from ..domain.vocab import count_vocab
from ..ports.events import AcquisitionObserver
from .cli_support import command_observer, note, print_json

if TYPE_CHECKING:
    from ..facade import SmartTokenizerDownload
    from ..testing.hub_simulator import HubSimulator

REPO = "sentence-transformers/all-MiniLM-L6-v2"
FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
VOCAB = 30522
OFFLINE_SOURCE = "tokacq demo, step 3"


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    demo = commands.add_parser(
        "demo", parents=[common], help="see it work on this machine, no internet needed",
        description="Serve a small real tokenizer from a local Hub on loopback, acquire it "
                    "through the network strategy into a temporary cache, again from the "
                    "cache, then offline. Your configuration and cache are not used "
                    "(--config and --cache-dir are ignored).")
    demo.set_defaults(handler=run_demo, parser=demo)


@dataclass(frozen=True)
class Step:
    name: str
    strategy: str
    from_cache: bool
    elapsed_s: float
    bytes_downloaded: int
    requests: int
    bytes_served: int
    vocab: int
    unavailable: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "unavailable": list(self.unavailable)}


def demo_files() -> dict[str, bytes]:
    """The shipped tokenizer's files (package data, read through importlib.resources)."""
    root = files("tokenizer_acquisition").joinpath("demo_data", *REPO.split("/"))
    return {name: root.joinpath(name).read_bytes() for name in FILES}


def run_demo(args: argparse.Namespace) -> int:
    from ..strategies import require_aiohttp

    require_aiohttp()  # the simulator and the network strategy both need it
    observer, progress = command_observer(args)
    data = demo_files()
    try:
        endpoint, steps = asyncio.run(_demo(data, observer))
    finally:
        if progress is not None:
            progress.close()
    ok = (steps[0].requests > 0 and not steps[0].from_cache
          and all(s.requests == 0 and s.from_cache for s in steps[1:])
          and all(s.vocab == VOCAB for s in steps))
    if args.json:
        print_json({"repo": REPO, "endpoint": endpoint, "files": list(FILES),
                    "expected_vocab": VOCAB, "steps": [s.to_dict() for s in steps],
                    "ok": ok})
    else:
        _print(args, endpoint, data, steps, ok)
    return 0 if ok else 1


async def _demo(data: dict[str, bytes], observer: AcquisitionObserver
                ) -> tuple[str, list[Step]]:
    from ..testing.hub_simulator import HubSimulator

    info = TokenizerDownloadInfo(REPO, "demo-minilm", FILES, expected_vocab=VOCAB)
    with tempfile.TemporaryDirectory(prefix="tokacq-demo-") as tmp:
        cache = Path(tmp) / "cache"
        sim = HubSimulator()
        sim.add_repo(REPO, data)
        async with sim:
            endpoint = sim.endpoint
            # Explicit options: no token, no proxies, no endpoint from the environment.
            options = NetworkOptions(endpoint=endpoint, trust_env=False, max_retries=1)
            async with _downloader(cache, options, observer) as online:
                steps = [await _step("1 download", online, info, sim),
                         await _step("2 again", online, info, sim)]
        offline = replace(options, offline_source=OFFLINE_SOURCE)
        async with _downloader(cache, offline, observer) as downloader:
            steps.append(await _step("3 offline", downloader, info, sim))
    return endpoint, steps


def _downloader(cache: Path, options: NetworkOptions, observer: AcquisitionObserver
                ) -> SmartTokenizerDownload:
    from ..facade import SmartTokenizerDownload
    from ..strategies import CacheOnlyAcquisition, HybridAcquisition, NetworkAcquisition

    network = NetworkAcquisition(cache, options=options, observer=observer)
    strategy = HybridAcquisition([CacheOnlyAcquisition(cache), network], observer=observer)
    return SmartTokenizerDownload(strategy, observer=observer)


async def _step(name: str, downloader: SmartTokenizerDownload, info: TokenizerDownloadInfo,
                sim: HubSimulator) -> Step:
    seen = len(sim.requests)
    started = time.perf_counter()
    result = await downloader.acquire(info)
    elapsed = time.perf_counter() - started
    new = sim.requests[seen:]
    primary = result.files["tokenizer.json"]
    unavailable = tuple(f"{s.name}: {s.reason}" for s in downloader.acquisition_info().strategies
                        if not s.available)
    return Step(name, result.strategy, result.from_cache, elapsed, result.bytes_downloaded,
                len(new), sum(r.bytes_sent for r in new),
                count_vocab("tokenizer.json", primary.read_bytes()), unavailable)


def _print(args: argparse.Namespace, endpoint: str, data: dict[str, bytes],
           steps: list[Step], ok: bool) -> None:
    total = human_size(sum(len(b) for b in data.values()))
    print(f"A local Hub at {endpoint} served {REPO} ({len(data)} files, {total}) "
          "into a temporary cache.\n")
    header = ("step", "strategy", "from cache", "time", "bytes", "requests")
    rows = [(s.name, s.strategy, "yes" if s.from_cache else "no",
             f"{s.elapsed_s * 1000:.1f} ms", human_size(s.bytes_downloaded), str(s.requests))
            for s in steps]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print()
    print("step 3 ran with the local Hub stopped and offline mode on ("
          f"{'; '.join(steps[-1].unavailable) or 'every strategy available'})")
    print(f"vocabulary: {steps[-1].vocab} entries on every step (expected {VOCAB})")
    if ok:
        note(args, "Temporary cache removed; your own cache and configuration were not used.")
    else:
        print("UNEXPECTED: a step did not behave as described above")
