"""Run the installed ``tokacq`` as a user would: a subprocess with an isolated environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.secrets import tokens_in

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MINILM_DIR = FIXTURES / "sentence-transformers" / "all-MiniLM-L6-v2"
REPO = "sentence-transformers/all-MiniLM-L6-v2"
KEY = "sentence-transformers--all-MiniLM-L6-v2"
TOKACQ = Path(sys.executable).with_name("tokacq")
_DROP = ("TOKACQ_", "HF_", "HUGGING_FACE_", "TRANSFORMERS_")
_PROXIES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Cli:
    """Runs tokacq with ``env``; ``module=True`` runs ``python -m tokenizer_acquisition``."""

    env: dict[str, str]
    cache: Path

    def __call__(self, *args: str, module: bool = False, timeout: float = 60,
                 stdin: str | None = None, **extra_env: str) -> Run:
        command = ([sys.executable, "-m", "tokenizer_acquisition"] if module
                   else [str(TOKACQ)])
        done = subprocess.run([*command, *args], env={**self.env, **extra_env},
                              capture_output=True, text=True, timeout=timeout,
                              input=stdin)
        # Every CLI run of the suite is searched: no configured token in anything it prints.
        assert not tokens_in(done.stdout + done.stderr), f"tokacq {args} printed a token"
        return Run(done.returncode, done.stdout, done.stderr)


def clean_env(tmp: Path) -> dict[str, str]:
    """No Hub token, offline switch, proxy or real cache from the machine running the tests."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_DROP) and k.lower() not in _PROXIES}
    env.update(TOKACQ_CACHE_DIR=str(tmp / "cache"), HF_HOME=str(tmp / "hf"),
               XDG_CACHE_HOME=str(tmp / "xdg"), HOME=str(tmp / "home"),
               NO_PROXY="127.0.0.1,127.0.0.2,localhost")
    return env


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(clean_env(tmp_path), tmp_path / "cache")


@pytest.fixture(scope="session")
def hub() -> Iterator[Any]:
    """One Hub simulator for the session, on a background thread."""
    from tokenizer_acquisition.testing import HubSimulator, ThreadedHubSimulator

    sim = HubSimulator()
    sim.add_repo_from_dir(REPO, MINILM_DIR)
    sim.add_repo("org/gated", {"tokenizer.json": b"{}", "tokenizer_config.json": b"{}"},
                 gated=True)
    with ThreadedHubSimulator(sim) as running:
        yield running


@pytest.fixture
def online(cli: Cli, hub: Any) -> Cli:
    """The CLI pointed at the simulator, with no retry waits."""
    config = cli.cache.parent / "tokacq.toml"
    config.write_text("[network]\nmax_retries = 0\nconnect_timeout = 2.0\n")
    cli.env.update(HF_ENDPOINT=hub.endpoint, TOKACQ_CONFIG=str(config))
    return cli


@pytest.fixture(autouse=True)
def _cli_logging_undone() -> Iterator[None]:
    """A test calling ``cli.main`` in process configures the library's logger as the CLI
    does (a stderr handler); undo it, so later tests see the library unconfigured."""
    import logging

    logger = logging.getLogger("tokenizer_acquisition")
    handlers, level = list(logger.handlers), logger.level
    yield
    for handler in [h for h in logger.handlers if h not in handlers]:
        logger.removeHandler(handler)
    logger.setLevel(level)
