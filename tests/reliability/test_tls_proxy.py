"""TLS against a test CA, and proxies from the environment, all on loopback."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from reliability.conftest import Results
from reliability.harness import Proxy, TlsFiles
from support.network import FAST
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.errors import NetworkError
from tokenizer_acquisition.domain.options import NetworkOptions
from tokenizer_acquisition.strategies import NetworkAcquisition
from tokenizer_acquisition.testing import HubSimulator

COMMAND = "pytest tests/reliability/test_tls_proxy.py"
FILES = {"config.json": b'{"model_type": "bert"}'}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy",
                 "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


async def _get(endpoint: str, cache: Path, repo: str = "org/tls", **options: object
               ) -> bytes:
    values: dict[str, object] = {"endpoint": endpoint, "trust_env": False, "max_retries": 1,
                                 "connect_timeout": 2.0, "read_timeout": 5.0}
    values.update(options)
    strategy = NetworkAcquisition(cache, options=NetworkOptions(**values),  # type: ignore[arg-type]
                                  backoff=FAST)
    try:
        result = await strategy.acquire(TokenizerDownloadInfo(repo, "k", ("config.json",)))
    finally:
        await strategy.aclose()
    return result.path.read_bytes()


async def test_unknown_ca_is_refused_with_a_typed_error(
        tls_context: ssl.SSLContext, tmp_path: Path, no_proxy_env: object,
        results: Results) -> None:
    """A certificate from an untrusted CA: NetworkError naming TLS and ca_bundle, no retries."""
    async with TlsFiles(FILES, tls_context) as server:
        with pytest.raises(NetworkError) as raised:
            await _get(server.endpoint, tmp_path)
    error = raised.value
    ok = ("TLS" in error.message and any("ca_bundle" in s for s in error.suggestions)
          and server.hits == 0 and not (tmp_path / "k").exists())
    results.add("TLS: test CA refused by default, accepted with ca_bundle", runs=1,
                passed=int(ok), command=COMMAND)
    assert ok, error


async def test_ca_bundle_makes_the_test_ca_trusted(
        ca: trustme.CA, tls_context: ssl.SSLContext, tmp_path: Path, no_proxy_env: object,
        results: Results) -> None:
    """With ca_bundle pointing at the test CA the same server is accepted and the file verified."""
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    async with TlsFiles(FILES, tls_context) as server:
        data = await _get(server.endpoint, tmp_path / "cache", ca_bundle=bundle)
    ok = data == FILES["config.json"] and server.hits == 1
    results.add("TLS: test CA refused by default, accepted with ca_bundle", runs=1,
                passed=int(ok), command=COMMAND)
    assert ok


@pytest.mark.parametrize("trust_env", [True, False])
async def test_http_proxy_from_environment_only_with_trust_env(
        tmp_path: Path, no_proxy_env: pytest.MonkeyPatch, trust_env: bool,
        results: Results) -> None:
    """HTTP_PROXY carries every request when trust_env is on, and none when it is off."""
    async with Proxy() as proxy, HubSimulator() as sim:
        sim.add_repo("org/tls", FILES)
        no_proxy_env.setenv("HTTP_PROXY", proxy.url)
        data = await _get(sim.endpoint, tmp_path, trust_env=trust_env)
        direct = len(sim.requests)
    used = [s for s in proxy.seen if s.startswith("GET http://127.0.0.1")]
    ok = data == FILES["config.json"] and (len(used) == direct if trust_env else not used)
    results.add("proxy from HTTP(S)_PROXY: used with trust_env, ignored without", runs=1,
                passed=int(ok), command=COMMAND)
    assert ok, proxy.seen


@pytest.mark.parametrize("trust_env", [True, False])
async def test_https_proxy_tunnels_with_connect_only_with_trust_env(
        ca: trustme.CA, tls_context: ssl.SSLContext, tmp_path: Path,
        no_proxy_env: pytest.MonkeyPatch, trust_env: bool, results: Results) -> None:
    """HTTPS_PROXY: a CONNECT tunnel to the TLS server when trust_env is on; direct when off."""
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    async with Proxy() as proxy, TlsFiles(FILES, tls_context) as server:
        no_proxy_env.setenv("HTTPS_PROXY", proxy.url)
        data = await _get(server.endpoint, tmp_path / "cache", ca_bundle=bundle,
                          trust_env=trust_env)
    tunnels = [s for s in proxy.seen if s == f"CONNECT 127.0.0.1:{server.port}"]
    ok = data == FILES["config.json"] and (bool(tunnels) if trust_env else not proxy.seen)
    results.add("proxy from HTTP(S)_PROXY: used with trust_env, ignored without", runs=1,
                passed=int(ok), command=COMMAND)
    assert ok, proxy.seen
