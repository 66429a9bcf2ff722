"""Webhooks from a real server to a real receiver: oras pushes and deletes arrive as
distribution's envelope; events made while the receiver is down, failing, or across
a server restart arrive when it is back, in the order of the log, none lost."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, missing_tool, start_server, stop_server
from tests.receiver import Receiver, notifications_toml

ENVELOPE = "application/vnd.docker.distribution.events.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def oras_tool() -> str:
    found = shutil.which("oras")
    if found is None:
        missing_tool("oras is not installed: run `make clients`")
    assert found is not None
    return found


@pytest.fixture(autouse=True)
def oras_present() -> None:
    """Skip (or fail, under CI) before any server starts, not in the middle of a test."""
    oras_tool()


def oras(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [oras_tool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def oras_push(server: LiveServer, cwd: Path, ref: str, content: bytes) -> str:
    (cwd / "artifact.txt").write_bytes(content)
    out = oras(cwd, "push", "--plain-http", f"{server.host}/{ref}", "artifact.txt")
    match = re.search(r"Digest: (sha256:[0-9a-f]{64})", out)
    assert match, out
    return match.group(1)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def serve_with_sink(tmp_path: Path, receiver: Receiver, **options: Any) -> LiveServer:
    config = tmp_path / "artifact-store.toml"
    config.write_text(notifications_toml("hook", receiver.url, backoff="1s", **options))
    return start_server(tmp_path / "data", "--config", str(config))


def log_records(server: LiveServer) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    after = 0
    while True:
        page = httpx.get(f"{server.url}/v2/_events", params={"after": after, "n": 100}).json()
        records += page["events"]
        if len(page["events"]) < 100:
            return records
        after = records[-1]["seq"]


def summary(event: dict[str, Any]) -> tuple[Any, ...]:
    """What a delivered event says, to compare with the log."""
    target = event["target"]
    return (event["action"], target.get("repository"), target.get("digest"), target.get("tag"))


def expected(records: list[dict[str, Any]], actions: set[str]) -> list[tuple[Any, ...]]:
    kinds = [(r, r["action"].split(".")[1]) for r in records]
    return [
        (kind, r["repository"], r.get("digest"), r.get("tag"))
        for r, kind in kinds
        if kind in actions
    ]


def unique(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    kept = []
    for event in events:
        if event["id"] not in seen:
            seen.add(event["id"])
            kept.append(event)
    return kept


def test_oras_push_and_delete_arrive_as_distribution_envelopes(
    tmp_path: Path, receiver: Receiver
) -> None:
    server = serve_with_sink(tmp_path, receiver, actions=["push", "delete"])
    try:
        digest = oras_push(server, tmp_path, "hooked/app:v1", os.urandom(1000))
        oras(
            tmp_path,
            "manifest",
            "delete",
            "--plain-http",
            "--force",
            f"{server.host}/hooked/app@{digest}",
        )
        events = receiver.wait_for(lambda found: any(e["action"] == "delete" for e in found))
        records = log_records(server)
    finally:
        stop_server(server)
    assert {d.content_type for d in receiver.deliveries} == {ENVELOPE}
    assert [summary(e) for e in events] == expected(records, {"push", "delete"})
    manifest = next(e for e in events if e["target"].get("mediaType") == OCI_MANIFEST)
    assert manifest["target"]["digest"] == digest
    assert manifest["target"]["repository"] == "hooked/app"
    assert manifest["request"]["useragent"].startswith("oras")
    assert {"id", "timestamp", "action", "target", "request", "actor"} <= set(manifest)
    tag = next(e for e in events if e["target"].get("tag") == "v1")
    assert (tag["action"], tag["target"]["mediaType"]) == ("push", OCI_MANIFEST)
    assert events[-1]["action"] == "delete"
    assert events[-1]["target"]["digest"] == digest
    assert len({e["id"] for e in events}) == len(events)


def test_events_while_the_receiver_is_down_or_failing_arrive_later(
    tmp_path: Path, receiver: Receiver
) -> None:
    server = serve_with_sink(tmp_path, receiver)
    try:
        oras_push(server, tmp_path, "outage/app:before", b"before the outage")
        receiver.wait_for(lambda found: any(e["target"].get("tag") == "before" for e in found))
        receiver.stop()
        oras_push(server, tmp_path, "outage/app:during", b"while the receiver is down")
        refused = _wait_for_more(server, "artifact_store_webhook_failures_total", 0)
        receiver.failing = True
        receiver.start()
        oras_push(server, tmp_path, "outage/app:failing", b"while the receiver fails")
        _wait_for_more(server, "artifact_store_webhook_failures_total", refused)
        receiver.failing = False
        events = receiver.wait_for(lambda f: any(e["target"].get("tag") == "failing" for e in f))
        records = log_records(server)
    finally:
        stop_server(server)
    assert [summary(e) for e in unique(events)] == expected(records, {"push", "delete", "mount"})


def test_events_across_a_server_restart_arrive(tmp_path: Path, receiver: Receiver) -> None:
    receiver.stop()
    server = serve_with_sink(tmp_path, receiver)
    oras_push(server, tmp_path, "restart/app:first", b"before the restart")
    stop_server(server)
    server = serve_with_sink(tmp_path, receiver)
    try:
        oras_push(server, tmp_path, "restart/app:second", b"after the restart")
        receiver.start()
        events = receiver.wait_for(lambda f: any(e["target"].get("tag") == "second" for e in f))
        records = log_records(server)
    finally:
        stop_server(server)
    assert [summary(e) for e in unique(events)] == expected(records, {"push", "delete", "mount"})
    assert [e["target"]["tag"] for e in events if "tag" in e["target"]] == ["first", "second"]


def test_cloudevents_and_filters(tmp_path: Path, receiver: Receiver) -> None:
    server = serve_with_sink(
        tmp_path,
        receiver,
        format="cloudevents",
        repositories=["keep/**"],
        actions=["push"],
        headers={"Authorization": "Bearer hook-secret"},
    )
    try:
        oras_push(server, tmp_path, "drop/app:v1", b"not for this sink")
        oras_push(server, tmp_path, "keep/deep/app:v1", b"for this sink")
        events = receiver.wait_for(lambda found: any(e.get("subject") == "v1" for e in found))
    finally:
        stop_server(server)
    assert {d.content_type for d in receiver.deliveries} == {"application/cloudevents+json"}
    assert {d.headers["Authorization"] for d in receiver.deliveries} == {"Bearer hook-secret"}
    assert {e["source"] for e in events} == {"/v2/keep/deep/app"}
    assert {e["specversion"] for e in events} == {"1.0"}
    assert [e["type"] for e in events][-2:] == [
        "artifact-store.manifest.push",
        "artifact-store.tag.push",
    ]
    assert all(e["data"]["target"]["repository"] == "keep/deep/app" for e in events)


def _wait_for_more(server: LiveServer, name: str, than: float, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = _metric(server, name)
        if value > than:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{name} stayed at {than} for {timeout}s")


def _metric(server: LiveServer, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{server.url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )
