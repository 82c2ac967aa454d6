"""Test a service without the network: swap a strategy through the container.

``build_container`` wires every part; a test overrides one provider with a fake instead
of patching internals. In the default hybrid, the network part is the
``network_if_installed`` provider (``network`` is the one built for
``strategy = "network"``). Runs without aiohttp: ``python examples/container_override.py``.
"""

from __future__ import annotations

import asyncio
import tempfile
from importlib.resources import as_file, files
from pathlib import Path

from dependency_injector import providers

from tokenizer_acquisition import (
    AcquisitionResult,
    RevisionNotFound,
    TokenizerAcquisition,
    TokenizerDownloadInfo,
    build_container,
)

REPO = "sentence-transformers/all-MiniLM-L6-v2"


class FakeHub(TokenizerAcquisition):
    """Serves the packaged demo files for ``main``; any other revision does not exist."""

    name = "network"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.calls: list[str] = []

    @property
    def description(self) -> str:
        return "a fake Hub for tests"

    def is_available(self) -> bool:
        return True

    def requirements(self) -> list[str]:
        return []

    async def acquire(self, info: TokenizerDownloadInfo) -> AcquisitionResult:
        self.calls.append(info.revision)
        if info.revision != "main":
            raise RevisionNotFound(f"{info.repo} has no revision {info.revision!r}",
                                   url=f"https://hub.invalid/{info.repo}", status=404)
        names = info.files or ("tokenizer.json",)
        found = {name: self.directory / name for name in names}
        return AcquisitionResult(path=found[names[0]], directory=self.directory, files=found,
                                 strategy=self.name, from_cache=False)


async def main() -> None:
    sample = files("tokenizer_acquisition").joinpath("demo_data", *REPO.split("/"))
    with as_file(sample) as directory, tempfile.TemporaryDirectory() as cache:
        container = build_container(overrides={"cache_dir": cache}, environ={})
        fake = FakeHub(Path(directory))
        with container.network_if_installed.override(providers.Object(fake)):
            downloader = container.downloader()
            info = TokenizerDownloadInfo(repo=REPO, cache_key="minilm",
                                         files=("tokenizer.json",))
            result = await downloader.acquire(info)
            print(f"1. served by {result.strategy} after "
                  f"{[a.strategy for a in result.attempts]} missed")
            try:  # the hybrid raises the decisive typed error as itself
                await downloader.acquire(TokenizerDownloadInfo(
                    repo=REPO, cache_key="minilm-v0", files=("tokenizer.json",),
                    revision="v0"))
            except RevisionNotFound as error:
                print(f"2. {type(error).__name__} caught as itself "
                      f"(cause: {type(error.__cause__).__name__})")
        print(f"3. the fake saw revisions {fake.calls}")


if __name__ == "__main__":
    asyncio.run(main())
