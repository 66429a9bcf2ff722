"""Integrity against a real server: `artifact-store verify` run beside it as an operator runs
it, what clients then see of quarantined blobs, healing by a push, and verified reads."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import blake3
import httpx
import pytest

from storage import layout
from tests.conftest import LiveServer, start_server, stop_server
from tests.registry import cli_process
from tests.registry.helpers import descriptor, image, sha256

REPO = "integrity/app"
M = 1024 * 1024
TRIES = 6  # requests per check: with two workers, each answers some


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    running = start_server(tmp_path / "data", "--workers", "2")
    yield running
    stop_server(running)


@pytest.fixture(params=["granian", "hypercorn"])
def checked_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    options = ("--workers", "2", "--verify-reads", "--server", request.param)
    running = start_server(tmp_path / "data", *options)
    yield running
    stop_server(running)


def push(client: httpx.Client, data: bytes, repository: str = REPO) -> str:
    digest = sha256(data)
    response = client.post(f"/v2/{repository}/blobs/uploads/?digest={digest}", content=data)
    assert response.status_code == 201, response.text
    return digest


def blob_path(server: LiveServer, data: bytes) -> Path:
    assert server.data_dir is not None
    return server.data_dir / "objects" / layout.blob_key(blake3.blake3(data).hexdigest())


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x80
    path.write_bytes(bytes(data))


def verify(server: LiveServer, *args: str) -> tuple[int, dict[str, object]]:
    done = cli_process.run("verify", "--data-dir", str(server.data_dir), "--json", *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def statuses(client: httpx.Client, method: str, url: str) -> set[int]:
    return {client.request(method, url).status_code for _ in range(TRIES)}


def test_verify_finds_exactly_what_is_wrong_and_a_push_heals_it(server: LiveServer) -> None:
    data = {name: os.urandom(size) for name, size in [("ok", M), ("flip", 3 * M), ("gone", 99)]}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        digests = {name: push(client, content) for name, content in data.items()}
        for digest in digests.values():  # cached as readable in the workers
            assert statuses(client, "HEAD", f"/v2/{REPO}/blobs/{digest}") == {200}
        flip_a_byte(blob_path(server, data["flip"]))
        blob_path(server, data["gone"]).unlink()
        orphan = blob_path(server, b"never pushed")
        orphan.parent.mkdir(parents=True, exist_ok=True)
        orphan.write_bytes(b"dropped into the blob tree")

        status, report = verify(server)
        assert status == 1
        assert report["corrupt_digests"] == [digests["flip"]]
        assert report["missing_digests"] == [digests["gone"]]
        assert report["orphan_keys"] == [layout.blob_key(orphan.name)]
        read = len(data["ok"]) + len(data["flip"])  # nothing to read of the missing one
        assert (report["checked"], report["bytes"]) == (3, read)
        assert isinstance(report["seconds"], float) and report["bytes_per_second"]
        assert orphan.exists()  # left to gc

        for name in ("flip", "gone"):
            url = f"/v2/{REPO}/blobs/{digests[name]}"
            assert statuses(client, "HEAD", url) == {404}
            response = client.get(url)
            assert response.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
        assert client.get(f"/v2/{REPO}/blobs/{digests['ok']}").content == data["ok"]
        assert server.data_dir is not None
        kept = (
            server.data_dir
            / "objects"
            / layout.quarantine_key(blob_path(server, data["flip"]).name)
        )
        assert kept.exists()

        for name in ("flip", "gone"):
            push(client, data[name], "integrity/elsewhere")  # any repository heals
            for _ in range(TRIES):
                assert client.get(f"/v2/{REPO}/blobs/{digests[name]}").content == data[name]
    orphan.unlink()
    status, report = verify(server)
    assert status == 0 and report["intact"] and report["checked"] == 3


def test_a_manifest_whose_bytes_are_quarantined_is_unknown(server: LiveServer) -> None:
    config, layer = b'{"os": "linux"}', os.urandom(1000)
    manifest = image(config, layer)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        push(client, config)
        push(client, layer)
        put = client.put(
            f"/v2/{REPO}/manifests/v1",
            content=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert put.status_code == 201, put.text
        flip_a_byte(blob_path(server, manifest))
        assert verify(server)[1]["corrupt_digests"] == [sha256(manifest)]
        for reference in ("v1", sha256(manifest)):
            assert statuses(client, "GET", f"/v2/{REPO}/manifests/{reference}") == {404}
        layer_url = f"/v2/{REPO}/blobs/{descriptor(layer)['digest']}"
        assert client.get(layer_url).content == layer  # still served: it is whole


def test_a_verified_read_of_corrupt_bytes_never_completes(checked_server: LiveServer) -> None:
    data = os.urandom(6 * M + 5)
    with httpx.Client(base_url=checked_server.url, timeout=30) as client:
        digest = push(client, data)
        url = f"/v2/{REPO}/blobs/{digest}"
        assert client.get(url).content == data  # verified and whole
        flip_a_byte(blob_path(checked_server, data))
        try:
            response = client.get(url)
        except httpx.HTTPError:
            pass  # the transfer was cut short
        else:
            assert response.status_code == 404 or response.content != data
            assert response.status_code != 200
        assert statuses(client, "HEAD", url) == {404}
        metrics = client.get("/metrics").text
        assert "artifact_store_blobs_quarantined_total 1.0" in metrics.splitlines()
    status, report = verify(checked_server)
    assert status == 1 and report["quarantined_digests"] == [digest]


def test_the_background_scrub_quarantines_a_corrupt_blob(tmp_path: Path) -> None:
    scrubbing = start_server(tmp_path / "data", "--workers", "2", "--scrub-interval", "1s")
    try:
        data = os.urandom(2 * M)
        with httpx.Client(base_url=scrubbing.url, timeout=30) as client:
            digest = push(client, data)
            flip_a_byte(blob_path(scrubbing, data))
            url = f"/v2/{REPO}/blobs/{digest}"
            deadline = time.monotonic() + 120
            while client.head(url).status_code == 200 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert statuses(client, "HEAD", url) == {404}
            push(client, data)  # healed
            assert client.get(url).content == data
            metrics = client.get("/metrics").text.splitlines()
            assert 'artifact_store_scrub_problems_total{problem="corrupt"} 1.0' in metrics
            assert "artifact_store_blobs_healed_total 1.0" in metrics
    finally:
        stop_server(scrubbing)
    events = cli_process.run("events", "--data-dir", str(scrubbing.data_dir), "--json")
    actions = [json.loads(line) for line in events.stdout.splitlines()]
    found = [e for e in actions if e["action"] == "blob.quarantine"]
    assert [(e["digest"], e["reason"], e["actor"]) for e in found] == [(digest, "corrupt", "scrub")]


def test_verify_exits_2_when_it_cannot_scan(tmp_path: Path) -> None:
    nothing = cli_process.run("verify", "--data-dir", str(tmp_path / "none"), "--json")
    assert nothing.returncode == 2 and "no registry" in nothing.stderr
    unreachable = cli_process.run(
        "verify", "--metadata-url", "postgresql://nobody@127.0.0.1:1/none", "--json"
    )
    assert unreachable.returncode == 2, unreachable.stderr
