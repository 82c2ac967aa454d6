"""The configured token, searched for everywhere a run leaves text: zero occurrences."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from reliability.conftest import Results
from reliability.harness import TOKACQ, child_env, error_text, files_under
from support.logs import capture_events
from support.network import MINILM, network
from support.seeding import current_snapshot
from tokenizer_acquisition import TokenizerDownloadInfo
from tokenizer_acquisition.domain.errors import AcquisitionError
from tokenizer_acquisition.testing import Corrupt, HubSimulator, ResetAfter, Status

COMMAND = "pytest tests/reliability/test_token_leaks.py"
TOKEN = "hf_ReliabilitySuiteToken9f8e7d6c5b4a"
#: Fragments that would betray a partly redacted or re-encoded token.
NEEDLES = (TOKEN, TOKEN[3:], TOKEN[-16:], f"Bearer {TOKEN[:6]}")
FILES = ("tokenizer.json", "config.json")


def _leaks(text: str | bytes) -> list[str]:
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    return [n for n in NEEDLES if n.encode() in data]


async def _run(sim: HubSimulator, cache: Path, info: TokenizerDownloadInfo,
               errors: list[str], **overrides: object) -> None:
    strategy = network(sim, cache, token=TOKEN, **overrides)
    try:
        await strategy.acquire(info)
    except AcquisitionError as error:
        errors.append(error_text(error))
    finally:
        await strategy.aclose()


async def test_token_never_in_logs_errors_manifest_or_cache_files(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, results: Results) -> None:
    """Success, resume and every error path with a token: no log, error or cache file shows it."""
    cache = tmp_path / "cache"
    errors: list[str] = []
    caplog.set_level(logging.DEBUG)
    with capture_events() as logs:
        async with HubSimulator() as sim:
            sim.add_repo_from_dir("org/private", MINILM, lfs=["tokenizer.json"], private=True)
            sim.add_repo("org/gated", {"config.json": b"{}"}, gated=True)
            sim.add_token(TOKEN)
            ok_info = TokenizerDownloadInfo("org/private", "ok", FILES)
            # a download interrupted then resumed (partials and sidecars exist meanwhile)
            sim.inject(ResetAfter(200_000), path="tokenizer.json")
            await _run(sim, cache, ok_info, errors)
            runs = [
                TokenizerDownloadInfo("org/private", "missing-file", ("nope.json",)),
                TokenizerDownloadInfo("org/absent", "missing-repo", ("config.json",)),
                TokenizerDownloadInfo("org/gated", "gated", ("config.json",)),
                TokenizerDownloadInfo("org/private", "bad-rev", FILES, revision="nope"),
            ]
            for info in runs:
                await _run(sim, cache, info, errors)
            sim.inject(Status(429, {"Retry-After": "0"}), path="config.json", times=10)
            await _run(sim, cache, TokenizerDownloadInfo("org/private", "limited", FILES),
                       errors, max_retries=1)
            sim.inject(Status(500), path="config.json", times=10)
            await _run(sim, cache, TokenizerDownloadInfo("org/private", "five", FILES),
                       errors, max_retries=1)
            sim.inject(Corrupt(), path="tokenizer.json")
            await _run(sim, cache, TokenizerDownloadInfo("org/private", "corrupt", FILES),
                       errors)
            await _run(sim, cache, TokenizerDownloadInfo("org/private", "big", FILES),
                       errors, max_file_bytes=1000)
            (tmp_path / "not-a-dir.txt").write_text("x")
            await _run(sim, tmp_path / "not-a-dir.txt",
                       TokenizerDownloadInfo("org/private", "file", FILES), errors)
            hub = [r for r in sim.requests if r.listener == "hub"]
            cdn = [r for r in sim.requests if r.listener == "cdn"]
        sim_refused = HubSimulator()
        await sim_refused.start()
        endpoint_gone = sim_refused.endpoint
        await sim_refused.stop()
        from support.network import FAST, options
        from tokenizer_acquisition.strategies import NetworkAcquisition
        refused = NetworkAcquisition(cache, options=options(sim_refused, token=TOKEN,
                                                            max_retries=1), backoff=FAST)
        try:
            await refused.acquire(TokenizerDownloadInfo("org/private", "refused", FILES))
        except AcquisitionError as error:
            errors.append(error_text(error))
        await refused.aclose()
    assert endpoint_gone
    places: dict[str, list[str]] = {
        "log events": _leaks(repr(logs)),
        "stdlib log records": _leaks("\n".join(
            f"{r.getMessage()} {r.args!r} {vars(r)!r}" for r in caplog.records)),
        "errors": _leaks("\n".join(errors)),
    }
    for path in files_under(tmp_path):
        places[str(path.relative_to(tmp_path))] = _leaks(path.read_bytes())
    leaked = {where: found for where, found in places.items() if found}
    checked = len(places)
    # The successful set's manifest is among the files searched (else the search is moot).
    snapshot = current_snapshot(cache, "ok")
    manifest = snapshot.with_name(f"{snapshot.name}.json")
    searched = manifest.is_file() and str(manifest.relative_to(tmp_path)) in places
    ok = (not leaked and len(errors) >= 8 and searched
          and all(r.token_valid for r in hub) and cdn and not any(r.authorized for r in cdn))
    results.add("token search: logs, errors, manifest, partials, cache files", runs=checked,
                passed=checked - len(leaked), command=COMMAND)
    results.add("no Authorization on a cross-host redirect", runs=len(cdn),
                passed=sum(not r.authorized for r in cdn), command=COMMAND)
    assert ok, (leaked, len(errors), searched)


@pytest.mark.parametrize("args, expect", [
    (["fetch", "org/private", "-f", "config.json", "--json", "-v", "--debug"], 0),
    (["fetch", "org/private", "-f", "nope.json", "--json", "-v", "--debug"], 3),
    (["fetch", "org/absent", "-f", "config.json", "-v"], 3),
    (["fetch", "org/gated", "-f", "config.json", "-v"], 0),
    (["info", "--json", "-v", "--debug"], 0),
    (["cache", "list", "--json"], 0),
    (["cache", "verify"], 0),
])
def test_token_never_in_cli_output(tmp_path: Path, args: list[str], expect: int,
                                   results: Results) -> None:
    """tokacq with HF_TOKEN set, verbose and debug: stdout and stderr never show the token."""
    with HubSimulator().run_in_thread() as sim:
        sim.add_repo_from_dir("org/private", MINILM, private=True)
        sim.add_repo("org/gated", {"config.json": b"{}"}, gated=True)
        sim.add_token(TOKEN)
        env = child_env(HF_TOKEN=TOKEN, HF_ENDPOINT=sim.endpoint, HOME=str(tmp_path),
                        TOKACQ_CACHE_DIR=str(tmp_path / "cache"),
                        HF_HOME=str(tmp_path / "hf"))
        done = subprocess.run([str(TOKACQ), *args], env=env, capture_output=True, text=True,
                              timeout=60)
    leaked = _leaks(done.stdout) + _leaks(done.stderr)
    leaked += [f"{p}: {n}" for p in files_under(tmp_path / "cache")
               for n in _leaks(p.read_bytes())]
    ok = (not leaked and done.returncode == expect and "Traceback" not in done.stderr) or (
        not leaked and "--debug" in args and done.returncode == expect)
    results.add("token search: CLI stdout/stderr", runs=1, passed=int(ok), command=COMMAND)
    assert ok, (leaked, done.returncode, done.stderr[-2000:])
