"""A real SeaweedFS S3 gateway for the whole session; failing to start fails the tests.

No skip: a machine where ``weed`` cannot start is a broken test environment, and the
S3 tier must not pass untested (issue 12). The core CI environment without aiohttp and
botocore never collects this directory.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.seaweed import SeaweedServer


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedServer]:
    server = SeaweedServer().start()
    try:
        yield server
    finally:
        server.stop()
