"""Shared fixtures: real tokenizer files, an isolated environment, seeded caches."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.secrets import leaking_files, tokens_in
from support.seeding import BOTCHAN, MINILM

_ENV_PREFIXES = ("TOKACQ_", "HF_", "HUGGING_FACE_", "TRANSFORMERS_", "AWS_")
_PROXIES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
_LOOPBACK = "127.0.0.1,127.0.0.2,localhost"


def pytest_configure(config: pytest.Config) -> None:
    """Before any test module imports huggingface_hub, which reads its environment once.

    Its default endpoint (used for its own background requests, such as the agent
    registry) becomes a dead loopback port, and its home a throwaway directory, so the
    suite never reaches huggingface.co nor writes to the real ~/.cache.
    """
    home = Path(tempfile.mkdtemp(prefix="tokacq-tests-hf-"))
    os.environ.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(home),
                      HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_IMPLICIT_TOKEN="1",
                      HF_HUB_DISABLE_XET="1", NO_PROXY=_LOOPBACK, no_proxy=_LOOPBACK)
    for name in _PROXIES:
        if name != "no_proxy":
            os.environ.pop(name, None)
            os.environ.pop(name.upper(), None)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
                         ) -> Iterator[None]:
    """No test sees the machine's Hub token, offline switches, proxies, home or caches."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES) or name.lower() in _PROXIES:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    (home / "netrc").touch(mode=0o600)  # an empty one: aiohttp with trust_env reads it
    monkeypatch.setenv("NETRC", str(home / "netrc"))
    monkeypatch.setenv("NO_PROXY", _LOOPBACK)
    monkeypatch.setenv("HF_HOME", str(home / "huggingface"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    # botocore's credential chain would otherwise ask the instance metadata service.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield


@pytest.fixture
def minilm_dir() -> Path:
    return MINILM


@pytest.fixture
def botchan_dir() -> Path:
    return BOTCHAN


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir()
    return path


# -- no token leaks, anywhere the whole suite writes ---------------------------------------

_LEAKS: dict[str, None] = {}  # ordered set: a section repeats in later phases' reports


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Search every test's captured stdout, stderr and log records for a configured token."""
    for title, content in report.sections:
        _LEAKS.update(dict.fromkeys(f"{report.nodeid} ({title}): {token}"
                                    for token in tokens_in(content)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _LEAKS:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "token leaks in captured output", red=True)
            for leak in _LEAKS:
                reporter.write_line(leak)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True, scope="session")
def no_token_in_any_file_the_suite_wrote(tmp_path_factory: pytest.TempPathFactory
                                         ) -> Iterator[None]:
    """At the end, no manifest, lock file, partial or output under the suite's temp dirs
    holds a configured token (token files placed as inputs excepted)."""
    yield
    leaks = leaking_files(tmp_path_factory.getbasetemp())
    assert not leaks, f"token found in files the suite wrote: {leaks[:10]}"
