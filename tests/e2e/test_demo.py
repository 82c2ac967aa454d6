"""``tokacq demo`` needs nothing outside loopback, and leaves the user's cache alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from e2e.conftest import Cli

pytestmark = pytest.mark.timeout(60)
DEAD_PROXY = "http://127.0.0.1:9"


def check_steps(doc: dict[str, object]) -> None:
    steps = doc["steps"]
    assert isinstance(steps, list) and len(steps) == 3
    download, again, offline = steps
    assert download["strategy"] == "network" and not download["from_cache"]
    assert download["requests"] > 0 and download["bytes_downloaded"] > 0
    for step in (again, offline):
        assert step["from_cache"] and step["requests"] == 0 and step["bytes_downloaded"] == 0
    assert all(s["vocab"] == 30522 for s in steps)
    assert any("offline mode is on" in u for u in offline["unavailable"])
    assert doc["ok"] is True


def test_demo_with_proxies_dead_and_the_hub_unresolvable(cli: Cli) -> None:
    """Proxies on a dead port and HF_ENDPOINT=.invalid change nothing; the cache is untouched."""
    run = cli("demo", "--json", HTTPS_PROXY=DEAD_PROXY, HTTP_PROXY=DEAD_PROXY,
              https_proxy=DEAD_PROXY, http_proxy=DEAD_PROXY,
              HF_ENDPOINT="https://huggingface.invalid", HF_HUB_OFFLINE="1")
    assert run.code == 0, run.err
    check_steps(run.json())
    assert not cli.cache.exists()


def test_demo_text_output(cli: Cli) -> None:
    """The text form names each step's strategy, source, time, bytes and requests."""
    run = cli("demo", module=True)
    assert run.code == 0, run.err
    for needle in ("1 download", "2 again", "3 offline", "network", "cache-only",
                   "requests", "30522"):
        assert needle in run.out
    assert not cli.cache.exists()


@pytest.mark.skipif(not (shutil.which("unshare") and shutil.which("ip")),
                    reason="needs unshare(1) and ip(8) for a network namespace")
def test_demo_in_a_network_namespace_with_only_loopback(cli: Cli) -> None:
    """In a user+network namespace where only `lo` exists, the demo still succeeds."""
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unprivileged network namespaces unavailable: {probe.stderr!r}")
    command = ["unshare", "-rn", "sh", "-c", 'ip link set lo up; exec "$@"', "sh",
               sys.executable, "-m", "tokenizer_acquisition", "demo", "--json"]
    done = subprocess.run(command, env=cli.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    import json

    check_steps(json.loads(done.stdout))


def test_wheel_ships_the_demo_tokenizer_under_1_mb(tmp_path: Path) -> None:
    """A built (non-editable) wheel contains demo_data with its NOTICE, under 1 MB."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(tmp_path), str(root)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        demo = {i.filename: i.file_size for i in archive.infolist()
                if "/demo_data/" in i.filename}
    names = {name.rsplit("/", 1)[-1] for name in demo}
    assert {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
            "vocab.txt", "NOTICE"} <= names
    assert sum(demo.values()) < 1_000_000
