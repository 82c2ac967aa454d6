"""The shared bucket tier against a real SeaweedFS, with real ``tokacq`` processes.

Each test uses its own prefix in the session's bucket and its own local caches; the
Hub is the simulator in a thread of this process, whose request log counts Hub GETs.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.network import MINILM, REPO, TOKEN
from support.recording_proxy import RecordingProxy
from support.seaweed import Identity, SeaweedServer
from support.secrets import all_secrets
from tokenizer_acquisition.testing import HubSimulator, ThreadedHubSimulator

FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json")
DEAD = "http://127.0.0.1:9"
#: Every stdout and stderr of every process, for the final secret search.
OUTPUTS: list[str] = []

BARRIER = textwrap.dedent("""
    import sys, time, pathlib
    from tokenizer_acquisition.entrypoints.cli import main
    go, deadline = pathlib.Path(sys.argv[1]), time.monotonic() + 30
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    sys.exit(main(sys.argv[2:]))
""")


@pytest.fixture
def hub() -> Iterator[HubSimulator]:
    with ThreadedHubSimulator(HubSimulator()) as sim:
        sim.add_repo_from_dir(REPO, MINILM)
        sim.add_token(TOKEN)
        yield sim


def _config(path: Path, seaweed: SeaweedServer, prefix: str, *, hub: str = DEAD,
            endpoint: str | None = None, strategy: str = "hybrid", lease_ttl: float = 60,
            lock_timeout: float = 30) -> Path:
    path.write_text(textwrap.dedent(f"""
        strategy = "{strategy}"
        lock_timeout = {lock_timeout}
        [network]
        endpoint = "{hub}"
        trust_env = false
        connect_timeout = 2
        max_retries = 1
        [s3]
        url = "s3://tokacq/{prefix}"
        endpoint_url = "{endpoint or seaweed.endpoint}"
        lease_ttl = {lease_ttl}
    """), encoding="utf-8")
    return path


def _env(tmp: Path, identity: Identity, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TOKACQ_"))}
    env.update(identity.environ(), AWS_EC2_METADATA_DISABLED="true", HOME=str(tmp),
               HF_TOKEN=TOKEN, **extra)
    return env


def fetch(tmp: Path, config: Path, identity: Identity, count: int = 1, *,
          tag: str = "pod", extra: tuple[str, ...] = (), **env: str
          ) -> list[subprocess.CompletedProcess[str]]:
    """``count`` ``tokacq fetch`` processes with their own caches, released together."""
    go = tmp / f"go-{tag}"
    procs = []
    for i in range(count):
        argv = ["fetch", REPO, *[a for f in FILES for a in ("-f", f)], "--config", str(config),
                "--cache-dir", str(tmp / f"{tag}-{i}"), "--json", *extra]
        procs.append(subprocess.Popen([sys.executable, "-c", BARRIER, str(go), *argv],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=_env(tmp, identity, **env)))
    time.sleep(0.3)
    go.touch()
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        OUTPUTS.extend((out, err))
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def _right_bytes(cache: Path) -> None:
    for name in FILES:
        assert hashlib.sha256((cache / "sentence-transformers--all-MiniLM-L6-v2" / name)
                              .read_bytes()).digest() == \
            hashlib.sha256((MINILM / name).read_bytes()).digest(), name


def _hub_gets(sim: HubSimulator) -> dict[str, int]:
    return {name: len(sim.file_gets(name)) for name in FILES}


def test_eight_cold_pods_get_each_file_from_the_hub_once(
        seaweed: SeaweedServer, hub: HubSimulator, tmp_path: Path) -> None:
    """8 processes on a cold bucket: all succeed, one Hub GET per file, right bytes."""
    config = _config(tmp_path / "c.toml", seaweed, "fleet8", hub=hub.endpoint)
    hub.latency = 0.2
    runs = fetch(tmp_path, config, seaweed.read_write, 8)
    assert [r.returncode for r in runs] == [0] * 8, [r.stderr[-800:] for r in runs]
    assert _hub_gets(hub) == dict.fromkeys(FILES, 1)
    for i in range(8):
        _right_bytes(tmp_path / f"pod-{i}")
    # The HF token went to the Hub only; no S3 signature reached it.
    assert all(r.token_valid for r in hub.requests if r.authorized)
    keys = seaweed.client().keys("fleet8/")
    assert sum(k.startswith("fleet8/sets/") for k in keys) == 1
    assert not any(k.startswith("fleet8/leases/") for k in keys)


def test_hub_down_pods_served_by_the_bucket_alone(
        seaweed: SeaweedServer, hub: HubSimulator, tmp_path: Path) -> None:
    """Filled once; then, the Hub unreachable, pods read the bucket with zero Hub requests;
    the read-only identity is served too, and strategy s3 alone serves."""
    fill = _config(tmp_path / "fill.toml", seaweed, "hubdown", hub=hub.endpoint)
    assert fetch(tmp_path, fill, seaweed.read_write, tag="fill")[0].returncode == 0
    hub.clear()
    keys = sorted(seaweed.client().keys("hubdown/"))
    config = _config(tmp_path / "c.toml", seaweed, "hubdown")  # the Hub: a dead port
    runs = fetch(tmp_path, config, seaweed.read_write, 2, tag="rw")
    runs += fetch(tmp_path, config, seaweed.read_only, 2, tag="ro")
    alone = _config(tmp_path / "s3.toml", seaweed, "hubdown", strategy="s3")
    runs += fetch(tmp_path, alone, seaweed.read_only, 1, tag="alone")
    assert [r.returncode for r in runs] == [0] * 5, [r.stderr[-800:] for r in runs]
    assert hub.requests == []
    assert sorted(seaweed.client().keys("hubdown/")) == keys  # nothing written
    _right_bytes(tmp_path / "ro-0")


def test_read_only_identity_on_a_cold_bucket_downloads_and_writes_nothing(
        seaweed: SeaweedServer, hub: HubSimulator, tmp_path: Path) -> None:
    """A miss with read-only credentials: served by the Hub, the bucket left empty."""
    config = _config(tmp_path / "c.toml", seaweed, "readonly", hub=hub.endpoint)
    runs = fetch(tmp_path, config, seaweed.read_only)
    assert runs[0].returncode == 0, runs[0].stderr
    assert seaweed.client().keys("readonly/") == []


def test_a_tampered_blob_is_refused_and_never_overwritten(
        seaweed: SeaweedServer, hub: HubSimulator, tmp_path: Path) -> None:
    """IntegrityError (exit 6) from the bucket alone; the Hub serves in a hybrid; the
    tampered object stays as it was."""
    fill = _config(tmp_path / "fill.toml", seaweed, "tamper", hub=hub.endpoint)
    assert fetch(tmp_path, fill, seaweed.read_write, tag="fill")[0].returncode == 0
    client = seaweed.client()
    sha = hashlib.sha256((MINILM / "tokenizer.json").read_bytes()).hexdigest()
    assert client.put(f"tamper/blobs/{sha}", b"not the tokenizer") == 200
    alone = _config(tmp_path / "s3.toml", seaweed, "tamper", strategy="s3")
    refused = fetch(tmp_path, alone, seaweed.read_write, tag="alone")[0]
    assert refused.returncode == 6, refused.stderr
    assert "IntegrityError" in refused.stdout
    hybrid = _config(tmp_path / "h.toml", seaweed, "tamper", hub=hub.endpoint)
    served = fetch(tmp_path, hybrid, seaweed.read_write, tag="hybrid")[0]
    assert served.returncode == 0, served.stderr
    _right_bytes(tmp_path / "hybrid-0")
    assert client.get(f"tamper/blobs/{sha}") == b"not the tokenizer"


LEADER = textwrap.dedent("""
    import asyncio, os, sys, time
    from pathlib import Path
    from tokenizer_acquisition import TokenizerDownloadInfo
    from tokenizer_acquisition.adapters.s3_bucket import S3ObjectStore
    from tokenizer_acquisition.domain.bucket_layout import S3Options
    from tokenizer_acquisition.domain.options import NetworkOptions
    from tokenizer_acquisition.strategies import NetworkAcquisition, S3Acquisition

    cache, hub, s3, marker = sys.argv[1:5]

    class StopBeforeManifest(S3ObjectStore):
        async def put(self, key, data, sha256, **kw):
            if "/sets/" in "/" + key:
                Path(marker).touch()
                time.sleep(120)  # killed here: blobs uploaded, no manifest
            return await super().put(key, data, sha256, **kw)

    async def main():
        options = S3Options(bucket="tokacq", prefix="killed", endpoint_url=s3, lease_ttl=2)
        net = NetworkAcquisition(cache, endpoint=hub, trust_env=False)
        strategy = S3Acquisition(cache, options=options, delegate=net,
                                 store=StopBeforeManifest(options, NetworkOptions()))
        await strategy.acquire(TokenizerDownloadInfo(
            "sentence-transformers/all-MiniLM-L6-v2", "k",
            ("tokenizer.json", "vocab.txt", "tokenizer_config.json")))

    asyncio.run(main())
""")


def test_a_leader_killed_before_its_manifest_is_taken_over(
        seaweed: SeaweedServer, hub: HubSimulator, tmp_path: Path) -> None:
    """Blobs up, no manifest, leader SIGKILLed: nobody uses the partial set, and a pod
    takes the lease over after lease_ttl and completes it."""
    marker = tmp_path / "blobs-uploaded"
    leader = subprocess.Popen([sys.executable, "-c", LEADER, str(tmp_path / "leader"),
                               hub.endpoint, seaweed.endpoint, str(marker)],
                              env=_env(tmp_path, seaweed.read_write),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline and leader.poll() is None:
        time.sleep(0.02)
    assert marker.exists(), leader.communicate(timeout=5)
    leader.send_signal(signal.SIGKILL)
    OUTPUTS.extend(leader.communicate(timeout=10))
    keys = seaweed.client().keys("killed/")
    assert any("/blobs/" in k for k in keys) and not any("/sets/" in k for k in keys)
    assert any("/leases/" in k for k in keys)
    config = _config(tmp_path / "c.toml", seaweed, "killed", hub=hub.endpoint, lease_ttl=2)
    started = time.monotonic()
    runs = fetch(tmp_path, config, seaweed.read_write, 3)
    assert [r.returncode for r in runs] == [0] * 3, [r.stderr[-800:] for r in runs]
    assert time.monotonic() - started >= 1.0  # they waited for the lease to expire
    for i in range(3):
        _right_bytes(tmp_path / f"pod-{i}")
    after = seaweed.client().keys("killed/")
    assert sum("/sets/" in k for k in after) == 1
    # One more Hub GET per file: the leader's, then the one that took over.
    assert _hub_gets(hub) == dict.fromkeys(FILES, 2)


def test_wrong_secret_and_dead_endpoint(
        seaweed: SeaweedServer, hub: HubSimulator, tmp_path: Path) -> None:
    """Wrong secret: exit 4 naming the setting, never the value. Dead endpoint: exit 5
    alone, and a hybrid falls through to the Hub."""
    wrong = Identity(seaweed.read_write.access_key, "WrongSecretValue-" + "x" * 20)
    alone = _config(tmp_path / "s3.toml", seaweed, "errors", strategy="s3")
    refused = fetch(tmp_path, alone, wrong, tag="wrong")[0]
    assert refused.returncode == 4, refused.stderr
    assert "AWS_SECRET_ACCESS_KEY" in refused.stderr
    assert wrong.secret_key not in refused.stderr + refused.stdout
    dead = _config(tmp_path / "dead.toml", seaweed, "errors", strategy="s3", endpoint=DEAD)
    unreachable = fetch(tmp_path, dead, seaweed.read_write, tag="dead")[0]
    assert unreachable.returncode == 5, unreachable.stderr
    hybrid = _config(tmp_path / "h.toml", seaweed, "errors", hub=hub.endpoint, endpoint=DEAD)
    served = fetch(tmp_path, hybrid, seaweed.read_write, tag="fallback")[0]
    assert served.returncode == 0, served.stderr
    _right_bytes(tmp_path / "fallback-0")


def _tokacq(tmp: Path, identity: Identity, *argv: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "tokenizer_acquisition", *argv],
                          capture_output=True, text=True, timeout=60, env=_env(tmp, identity))
    OUTPUTS.extend((done.stdout, done.stderr))
    return done


def test_bundle_push_then_a_cluster_without_the_hub_and_info(
        seaweed: SeaweedServer, hub: HubSimulator, tmp_path: Path) -> None:
    """lock, bundle push, then fetch --lock with strategy s3 alone; info shows access."""
    import json

    config = _config(tmp_path / "c.toml", seaweed, "unused", hub=hub.endpoint)
    lock = tmp_path / "tokenizers.lock"
    files = [a for f in FILES for a in ("-f", f)]
    locked = _tokacq(tmp_path, seaweed.read_write, "lock", REPO, *files, "-o", str(lock),
                     "--config", str(config), "--cache-dir", str(tmp_path / "builder"),
                     "--strategy", "network")
    assert locked.returncode == 0, locked.stderr
    pushed = _tokacq(tmp_path, seaweed.read_write, "bundle", "push", "--lock", str(lock),
                     "s3://tokacq/bundle", "--config", str(config),
                     "--cache-dir", str(tmp_path / "builder"))
    assert pushed.returncode == 0, pushed.stderr
    hub.clear()
    alone = _config(tmp_path / "s3.toml", seaweed, "bundle", strategy="s3")
    served = _tokacq(tmp_path, seaweed.read_only, "fetch", "--lock", str(lock), "--config",
                     str(alone), "--cache-dir", str(tmp_path / "pod"))
    assert served.returncode == 0, served.stderr
    assert hub.requests == []
    _right_bytes(tmp_path / "pod")
    for identity, access in ((seaweed.read_write, "read-write"),
                             (seaweed.read_only, "read-only")):
        info = _tokacq(tmp_path, identity, "info", "--json", "--config", str(alone))
        assert info.returncode == 0, info.stderr
        doc = json.loads(info.stdout)["s3"]
        assert (doc["bucket"], doc["access"]) == ("s3://tokacq/bundle", access)
    assert "probe" not in " ".join(seaweed.client().keys("bundle/"))


def test_on_the_wire_the_hf_token_stays_off_s3_and_signatures_off_the_hub(
        seaweed: SeaweedServer, hub: HubSimulator, tmp_path: Path) -> None:
    """Recording proxies in front of SeaweedFS and the Hub: no S3 request carries the HF
    token, every one is SigV4-signed; no Hub request carries an X-Amz header or an AWS4
    signature; read-only pods on the warm bucket only read."""
    with RecordingProxy(seaweed.endpoint) as s3, RecordingProxy(hub.endpoint) as hub_wire:
        config = _config(tmp_path / "c.toml", seaweed, "wire", hub=hub_wire.endpoint,
                         endpoint=s3.endpoint)
        runs = fetch(tmp_path, config, seaweed.read_write, 2, tag="rw")
        assert [r.returncode for r in runs] == [0, 0], [r.stderr[-800:] for r in runs]
        assert any(seen.method == "PUT" for seen in s3.requests)
        for seen in s3.requests:
            text = f"{seen.path}\n{seen.header_text()}"
            assert TOKEN not in text and "Bearer" not in text, seen
            auth = [v for k, v in seen.headers if k.lower() == "authorization"]
            assert len(auth) == 1 and auth[0].startswith("AWS4-HMAC-SHA256 "), seen
        assert hub_wire.requests
        # The recording would see the token: the Hub did get it, in its own header.
        assert any(TOKEN in seen.header_text() for seen in hub_wire.requests)
        for seen in hub_wire.requests:
            assert not [k for k, _ in seen.headers if k.lower().startswith("x-amz-")], seen
            assert "AWS4" not in seen.header_text(), seen
            assert seaweed.read_write.access_key not in seen.header_text(), seen
        assert not [r for r in hub.requests if r.authorized and not r.token_valid]
        s3.clear()
        hub.clear()
        readers = fetch(tmp_path, config, seaweed.read_only, 2, tag="ro")
        assert [r.returncode for r in readers] == [0, 0], [r.stderr[-800:] for r in readers]
        assert s3.requests, "the read-only pods read the bucket"
        assert {seen.method for seen in s3.requests} <= {"GET", "HEAD"}, s3.requests
        assert hub.requests == []


def test_a_slow_hub_download_longer_than_lease_ttl_is_not_taken_over(
        seaweed: SeaweedServer, hub: HubSimulator, tmp_path: Path) -> None:
    """The leader's Hub download lasts 3x lease_ttl: its heartbeat renews the lease, the
    followers wait, and each file still leaves the Hub once."""
    config = _config(tmp_path / "c.toml", seaweed, "slowhub", hub=hub.endpoint, lease_ttl=1)
    hub.latency = 3.0
    runs = fetch(tmp_path, config, seaweed.read_write, 4, tag="slow")
    assert [r.returncode for r in runs] == [0] * 4, [r.stderr[-800:] for r in runs]
    assert _hub_gets(hub) == dict.fromkeys(FILES, 1)
    assert not any(k.startswith("slowhub/leases/") for k in seaweed.client().keys("slowhub/"))


def test_a_hub_error_through_s3_reaches_the_hub_once(
        seaweed: SeaweedServer, hub: HubSimulator, tmp_path: Path) -> None:
    """A file the repo lacks: the hybrid's s3 part (leading through the network part)
    gets EntryNotFound, and the network part is not run again: the simulator sees the
    failing request as often as with the network strategy alone."""
    missing = ("-f", "no-such-file.json")
    alone = _config(tmp_path / "n.toml", seaweed, "entry", hub=hub.endpoint,
                    strategy="network")
    baseline = fetch(tmp_path, alone, seaweed.read_write, tag="net", extra=missing)[0]
    assert baseline.returncode != 0 and "EntryNotFound" in baseline.stdout, baseline.stderr
    once = len([r for r in hub.requests if r.file == "no-such-file.json"])
    assert once >= 1
    hub.clear()
    hybrid = _config(tmp_path / "h.toml", seaweed, "entry", hub=hub.endpoint)
    failed = fetch(tmp_path, hybrid, seaweed.read_write, tag="hyb", extra=missing)[0]
    assert failed.returncode == baseline.returncode, failed.stderr
    assert "EntryNotFound" in failed.stdout
    assert len([r for r in hub.requests if r.file == "no-such-file.json"]) == once
    assert not [k for k in seaweed.client().keys("entry/") if "/leases/" in k]


def test_no_secret_in_any_output_or_object(seaweed: SeaweedServer) -> None:
    """Runs last in this module: every process output, every object in the bucket."""
    secrets = [*all_secrets(), seaweed.read_write.secret_key, seaweed.read_only.secret_key,
               TOKEN]
    assert OUTPUTS, "the other tests ran no process"
    for text in OUTPUTS:
        assert not [s for s in secrets if s in text]
    client = seaweed.client()
    keys = client.keys("")
    assert keys
    for key in keys:
        data = client.get(key) or b""
        assert not [s for s in secrets if s.encode() in data], key
