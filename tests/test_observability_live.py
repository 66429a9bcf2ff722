"""Metrics, logs and the event log of a real server: /metrics before and after oras
traffic, JSON logs line by line, request ids, metrics_addr, `artifact-store events`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import LiveServer, free_port, start_server, stop_server
from tests.test_webhooks_live import oras, oras_push

MANIFEST_ROUTE = "/v2/{name:path}/manifests/{reference}"
BLOB_ROUTE = "/v2/{name:path}/blobs/{digest}"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample of /metrics, parsed by prometheus_client's own parser."""
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= set(found))


@pytest.fixture
def json_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(
        tmp_path / "data", "--log-format", "json", "--metrics-usage-interval", "1s"
    )
    yield server
    stop_server(server)


def test_metrics_move_with_oras_push_and_pull(json_server: LiveServer, tmp_path: Path) -> None:
    before = scrape(f"{json_server.url}/metrics")
    layer = os.urandom(200_000)
    oras_push(json_server, tmp_path, "metered/app:v1", layer)
    oras(tmp_path, "pull", "--plain-http", f"{json_server.host}/metered/app:v1", "-o", "out")
    assert (tmp_path / "out" / "artifact.txt").read_bytes() == layer
    requests = "artifact_store_http_requests_total"
    seen = [
        {"method": "PUT", "route": MANIFEST_ROUTE, "status": "201"},
        {"method": "GET", "route": MANIFEST_ROUTE, "status": "200"},
        {"method": "GET", "route": BLOB_ROUTE, "status": "200"},
    ]
    # Each worker saves its request counts once a second for the others' /metrics.
    after = scrape_until(
        json_server,
        lambda s: all(total(s, requests, **c) > total(before, requests, **c) for c in seen),
    )

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved(requests, method="PUT", route=MANIFEST_ROUTE, status="201") == 1
    assert moved(requests, method="GET", route=MANIFEST_ROUTE, status="200") >= 1
    assert moved(requests, method="GET", route=BLOB_ROUTE, status="200") >= 1
    histogram = "artifact_store_http_request_duration_seconds"
    assert moved(f"{histogram}_count", method="GET", route=BLOB_ROUTE) >= 1
    assert moved(f"{histogram}_bucket", method="GET", route=BLOB_ROUTE, le="+Inf") >= 1
    assert moved(f"{histogram}_sum", method="GET", route=BLOB_ROUTE) > 0
    assert moved("artifact_store_http_received_bytes_total") >= len(layer)
    assert moved("artifact_store_http_sent_bytes_total", route=BLOB_ROUTE) >= len(layer)
    routes = {str(dict(labels).get("route")) for _, labels in after if dict(labels).get("route")}
    assert not any("metered" in route for route in routes), routes  # templates, not paths
    assert wait_for_gauge(json_server, "artifact_store_stored_blobs", 2) >= 2
    assert total(scrape(f"{json_server.url}/metrics"), "artifact_store_stored_bytes") >= len(layer)


def scrape_until(
    server: LiveServer, done: Callable[[Samples], bool], timeout: float = 30
) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(f"{server.url}/metrics")
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.3)


def wait_for_gauge(server: LiveServer, name: str, at_least: float, timeout: float = 30) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = total(scrape(f"{server.url}/metrics"), name)
        if value >= at_least:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{name} did not reach {at_least} within {timeout}s")


def test_json_logs_every_line_and_request_ids(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--log-format", "json", "--log-level", "debug")
    try:
        sent = httpx.get(f"{server.url}/v2/", headers={"X-Request-Id": "client-chosen-42"})
        made = httpx.get(f"{server.url}/v2/absent/manifests/v1")
        bad = httpx.get(f"{server.url}/v2/", headers={"X-Request-Id": "bad id\twith tab"})
        oras_push(server, tmp_path, "logged/app:v1", b"a logged push")
    finally:
        stop_server(server)
    assert sent.headers["X-Request-Id"] == "client-chosen-42"
    assert made.headers["X-Request-Id"] and made.headers["X-Request-Id"] != "client-chosen-42"
    assert bad.headers["X-Request-Id"] != "bad id\twith tab"
    lines = (tmp_path / "data.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line the server wrote
    access = [r for r in records if r["logger"] == "artifact-store.access"]
    chosen = [r for r in access if r["request_id"] == "client-chosen-42"]
    assert len(chosen) == 1
    assert chosen[0]["route"] == "/v2/" and chosen[0]["status"] == 200
    assert {"method", "route", "repository", "digest", "status", "bytes", "duration"} <= set(
        chosen[0]
    )
    assert {"actor", "client", "request_id"} <= set(chosen[0])
    missing = next(r for r in access if r["request_id"] == made.headers["X-Request-Id"])
    assert (missing["status"], missing["repository"]) == (404, "absent")
    put = next(r for r in access if r["method"] == "PUT" and r["route"] == MANIFEST_ROUTE)
    assert put["digest"].startswith("sha256:") and put["repository"] == "logged/app"
    # The HTTP server's own start-up line, through the one handler: written once.
    assert sum("Listening at: http://" in r["message"] for r in records) == 1
    assert {r["level"] for r in records} <= {"debug", "info", "warning", "error", "critical"}


def test_metrics_on_their_own_address(tmp_path: Path) -> None:
    metrics_addr = f"127.0.0.1:{free_port()}"
    server = start_server(tmp_path / "data", "--metrics-addr", metrics_addr)
    try:
        assert httpx.get(f"{server.url}/metrics").status_code == 404
        assert httpx.get(f"{server.url}/v2/").status_code == 200
        deadline = time.monotonic() + 10
        samples: Samples = {}
        while time.monotonic() < deadline:
            samples = scrape(f"http://{metrics_addr}/metrics")
            if total(samples, "artifact_store_http_requests_total", route="/v2/") >= 1:
                break
            time.sleep(0.3)
    finally:
        stop_server(server)
    assert total(samples, "artifact_store_http_requests_total", route="/v2/") >= 1
    assert (
        total(samples, "artifact_store_http_requests_total", route="unmatched", status="404") == 1
    )


def cli(*args: str) -> list[str]:
    exe = shutil.which("artifact-store", path=str(Path(sys.executable).parent))
    return [exe or "artifact-store", *args]


def test_events_command_prints_and_follows_the_log(json_server: LiveServer, tmp_path: Path) -> None:
    assert json_server.data_dir is not None
    data = str(json_server.data_dir)
    oras_push(json_server, tmp_path, "listed/app:v1", b"listed")
    served = httpx.get(f"{json_server.url}/v2/_events").json()["events"]
    printed = subprocess.run(
        cli("events", "--data-dir", data, "--json"), capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert [json.loads(line) for line in printed] == served
    text = subprocess.run(
        cli("events", "--data-dir", data, "--after", str(served[-2]["seq"])),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(text) == 1 and "tag.push" in text[0] and "listed/app:v1" in text[0]
    with subprocess.Popen(
        cli("events", "--data-dir", data, "--follow", "--json", "--after", str(served[-1]["seq"])),
        stdout=subprocess.PIPE,
        text=True,
    ) as follower:
        watchdog = threading.Timer(60, follower.kill)  # a follower that never prints fails
        watchdog.start()
        try:
            oras_push(json_server, tmp_path, "listed/app:v2", b"followed")
            followed = _read_until(follower, lambda r: r.get("tag") == "v2")
        finally:
            watchdog.cancel()
            follower.send_signal(signal.SIGINT)
            assert follower.wait(timeout=20) == 0
    assert [r["seq"] for r in followed] == sorted(r["seq"] for r in followed)
    assert followed[0]["seq"] == served[-1]["seq"] + 1


def _read_until(process: subprocess.Popen[str], done: Any) -> list[dict[str, Any]]:
    assert process.stdout is not None
    found: list[dict[str, Any]] = []
    for line in process.stdout:
        found.append(json.loads(line))
        if done(found[-1]):
            return found
    raise AssertionError(f"the follower stopped early: {found}")
