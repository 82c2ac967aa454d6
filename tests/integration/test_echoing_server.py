"""A server echoing the credential: the library's errors and logs never carry it (item 9).

Needs ``AiohttpRemoteFiles._status_failure`` to pass the configured token to
``error_for(..., secrets=...)``: the CLI masks it on its own, a library caller's
``str(error)`` only through that.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from support.echo_server import echoing_hub
from support.logs import capture_events
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.download_policy import Backoff
from tokenizer_acquisition.domain.errors import NetworkError
from tokenizer_acquisition.domain.options import NetworkOptions, Secret
from tokenizer_acquisition.strategies import NetworkAcquisition

pytestmark = pytest.mark.timeout(60)

PLAIN = "PlainEchoedSecret-6a1f0c9d2b7e"
HUB = "hf_EchoServerToken0123456789"


@pytest.mark.parametrize("repo", ["org/echo-403", "org/echo-404", "org/echo-500"])
@pytest.mark.parametrize("token", [PLAIN, HUB])
async def test_the_error_of_an_echoing_server_holds_no_token(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, repo: str, token: str) -> None:
    """str(), repr(), fields and retry logs: masked, whatever the token looks like."""
    caplog.set_level(logging.DEBUG)
    with echoing_hub() as endpoint, capture_events() as logs:
        strategy = NetworkAcquisition(
            tmp_path, options=NetworkOptions(endpoint=endpoint, token=Secret(token),
                                             max_retries=1, trust_env=False),
            backoff=Backoff(base=0.001, cap=0.01, max_server_delay=1.0))
        try:
            with pytest.raises(NetworkError) as caught:
                await strategy.acquire(TokenizerDownloadInfo(repo, "k", ("tokenizer.json",)))
        finally:
            await strategy.aclose()
    error = caught.value
    seen = (f"{error} {error!r} {error.server_message} {error.request_id} {error.args} "
            f"{logs} {caplog.text}")
    assert token not in seen and token[-12:] not in seen
    assert "***" in str(error)
