"""Garbage collection against a real server that keeps serving: `artifact-store gc` as an
operator runs it (dry run, then for real), the collector in the server every gc_interval,
a gc killed mid-run and run again, and read-only mode."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.registry.cli_process import executable, run

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
REPO = "gc/live"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    running = start_server(tmp_path / "data")
    yield running
    stop_server(running)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(url: str, data: bytes, repo: str = REPO, client: httpx.Client | None = None) -> str:
    digest = sha256(data)
    post = (client or httpx).post
    response = post(f"{url}/v2/{repo}/blobs/uploads/?digest={digest}", content=data)
    assert response.status_code == 201, response.text
    return digest


def push_image(url: str, layers: list[bytes], tag: str) -> tuple[str, list[str]]:
    """The manifest's digest and its blobs' digests (config first)."""
    config = json.dumps({"tag": tag}).encode()
    blobs = [push_blob(url, blob) for blob in [config, *layers]]
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": CONFIG, "digest": blobs[0], "size": len(config)},
            "layers": [
                {"mediaType": LAYER, "digest": d, "size": len(layer)}
                for d, layer in zip(blobs[1:], layers, strict=True)
            ],
        }
    ).encode()
    response = httpx.put(
        f"{url}/v2/{REPO}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201, response.text
    return sha256(body), blobs


def gc(data_dir: Path, *args: str) -> dict[str, Any]:
    done = run("gc", "--data-dir", str(data_dir), "--json", *args)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def blob_files(data_dir: Path) -> set[str]:
    return {path.name for path in (data_dir / "objects" / "blobs").rglob("*") if path.is_file()}


def test_gc_removes_exactly_what_a_deleted_image_alone_held(server: LiveServer) -> None:
    assert server.data_dir is not None
    shared = os.urandom(2048)
    _, kept = push_image(server.url, [shared, b"survivor's own"], "survivor")
    doomed, doomed_blobs = push_image(server.url, [shared, b"doomed's own"], "doomed")
    assert httpx.delete(f"{server.url}/v2/{REPO}/manifests/{doomed}").status_code == 202
    files = blob_files(server.data_dir)
    own = {doomed, doomed_blobs[0], doomed_blobs[2]}  # manifest, config, its own layer

    dry = gc(server.data_dir, "--dry-run", "--grace", "0s")
    assert dry["dry_run"] is True and set(dry["blobs"]) == own
    assert blob_files(server.data_dir) == files
    done = gc(server.data_dir, "--grace", "0s")

    assert done["dry_run"] is False and set(done["blobs"]) == own
    assert len(files) - len(blob_files(server.data_dir)) == 3
    manifest = httpx.get(
        f"{server.url}/v2/{REPO}/manifests/survivor", headers={"Accept": OCI_MANIFEST}
    )
    assert manifest.status_code == 200
    for digest in kept:
        pulled = httpx.get(f"{server.url}/v2/{REPO}/blobs/{digest}")
        assert (pulled.status_code, sha256(pulled.content)) == (200, digest)
    assert push_blob(server.url, b"doomed's own") == doomed_blobs[2]  # pushed again: fine
    again = httpx.get(f"{server.url}/v2/{REPO}/blobs/{doomed_blobs[2]}")
    assert again.content == b"doomed's own"


def test_gc_keeps_fresh_blobs_and_says_so_without_json(server: LiveServer) -> None:
    assert server.data_dir is not None
    digest = push_blob(server.url, b"a layer whose manifest is not pushed yet")
    done = run("gc", "--data-dir", str(server.data_dir))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("gc removed 0 blobs")
    assert httpx.get(f"{server.url}/v2/{REPO}/blobs/{digest}").status_code == 200


def test_the_server_collects_every_gc_interval(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--gc-interval", "1s", "--gc-grace", "0s")
    try:
        digest = push_blob(server.url, b"nothing references me")
        deadline = time.monotonic() + 60
        while httpx.get(f"{server.url}/v2/{REPO}/blobs/{digest}").status_code == 200:
            assert time.monotonic() < deadline, "the background collector never ran"
            time.sleep(0.5)
        assert blob_files(tmp_path / "data") == set()
    finally:
        stop_server(server)


def test_gc_killed_mid_sweep_then_run_again_leaves_nothing_half_deleted(
    server: LiveServer,
) -> None:
    assert server.data_dir is not None
    with httpx.Client() as client:  # one connection: 600 pushes
        unlinked = [push_blob(server.url, os.urandom(64), client=client) for _ in range(600)]
    kept, kept_blobs = push_image(server.url, [b"kept layer"], "kept")
    process = subprocess.Popen(
        [executable(), "gc", "--data-dir", str(server.data_dir), "--grace", "0s"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    caught = wait_for_sweeping(server.data_dir / "metadata.db", process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert caught, "gc finished before it could be killed mid-sweep"

    gc(server.data_dir, "--grace", "0s")

    assert len(blob_files(server.data_dir)) == len(kept_blobs) + 1
    for digest in unlinked:
        assert httpx.head(f"{server.url}/v2/{REPO}/blobs/{digest}").status_code == 404
    for digest in [kept, *kept_blobs]:
        assert httpx.head(f"{server.url}/v2/{REPO}/blobs/{digest}").status_code == 200


def wait_for_sweeping(database: Path, process: subprocess.Popen[bytes]) -> bool:
    """Until the run has committed `sweeping` on some blobs (their bytes going, rows not
    yet): True; False if it ended first."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        while process.poll() is None:
            with contextlib.suppress(sqlite3.OperationalError):  # busy, or no column yet
                if db.execute(SWEEPING).fetchone()[0]:
                    return True
            time.sleep(0.002)
    return False


SWEEPING = "SELECT count(*) FROM blobs WHERE sweeping IS NOT NULL"


def test_read_only_refuses_writes_and_serves_reads(tmp_path: Path) -> None:
    writable = start_server(tmp_path / "data")
    digest = push_blob(writable.url, b"pushed before the maintenance")
    stop_server(writable)
    server = start_server(tmp_path / "data", "--read-only")
    try:
        refused = [
            httpx.post(f"{server.url}/v2/{REPO}/blobs/uploads/"),
            httpx.put(f"{server.url}/v2/{REPO}/manifests/latest", content=b"{}"),
            httpx.delete(f"{server.url}/v2/{REPO}/blobs/{digest}"),
        ]
        for response in refused:
            assert response.status_code == 405
            assert response.json()["errors"][0]["code"] == "UNSUPPORTED"
            assert "read-only" in response.json()["errors"][0]["detail"]["reason"]
        read = httpx.get(f"{server.url}/v2/{REPO}/blobs/{digest}")
        assert read.content == b"pushed before the maintenance"
    finally:
        stop_server(server)
