"""aioresponses 0.7.9 breaks on aiohttp 3.14 (``ClientResponse.__init__`` grew a required
``stream_writer``); these tests run in the separate mock environment (``.[mock]``)."""

from __future__ import annotations

import pytest


def _too_new() -> bool:
    try:
        import aiohttp
    except ImportError:
        return True
    major, minor = (int(p) for p in aiohttp.__version__.split(".")[:2])
    return (major, minor) >= (3, 14)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _too_new():
        return
    skip = pytest.mark.skip(reason="aioresponses needs aiohttp<3.14: run in the mock "
                                   "environment (pip install -e '.[mock]')")
    here = str(config.rootpath / "tests" / "mock")
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(skip)
