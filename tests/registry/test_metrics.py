"""Request metrics in one process and added up across processes; /metrics in the
Prometheus text format with route templates for labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from registry.metrics.requests import RequestCollector, RequestTally

MANIFEST = "/v2/{name:path}/manifests/{reference}"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_tallies_of_several_processes_add_up(tmp_path: Path) -> None:
    one, two = RequestTally(), RequestTally()
    one.observe("GET", MANIFEST, 200, 0.0004, 0, 500)
    one.observe("GET", MANIFEST, 404, 0.003, 0, 100)
    two.observe("GET", MANIFEST, 200, 7.0, 0, 500)
    two.observe("PUT", MANIFEST, 201, 0.02, 800, 0)
    for pid, tally in ((101, one), (102, two)):
        (tmp_path / f"requests_{pid}.json").write_text(json.dumps(tally.snapshot()))
    families = {f.name: f for f in RequestCollector(tmp_path).collect()}
    requests = {
        tuple(s.labels.values()): s.value for s in families["artifact_store_http_requests"].samples
    }
    assert requests == {
        ("GET", MANIFEST, "200"): 2,
        ("GET", MANIFEST, "404"): 1,
        ("PUT", MANIFEST, "201"): 1,
    }
    histogram = {
        (s.name, s.labels.get("le")): s.value
        for s in families["artifact_store_http_request_duration_seconds"].samples
        if s.labels["method"] == "GET"
    }
    name = "artifact_store_http_request_duration_seconds"
    assert histogram[(f"{name}_bucket", "0.001")] == 1
    assert histogram[(f"{name}_bucket", "0.005")] == 2
    assert histogram[(f"{name}_bucket", "5.0")] == 2
    assert histogram[(f"{name}_bucket", "10.0")] == 3
    assert histogram[(f"{name}_bucket", "+Inf")] == histogram[(f"{name}_count", None)] == 3
    assert histogram[(f"{name}_sum", None)] == pytest.approx(7.0034)
    sent = families["artifact_store_http_sent_bytes"].samples
    assert sum(s.value for s in sent if s.labels["method"] == "GET") == 1100


def test_metrics_endpoint_labels_routes_by_template(client: TestClient) -> None:
    before = samples(client.get("/metrics").text)
    client.get("/v2/some/repo/manifests/missing")
    client.request("BREW", "/v2/")
    after = samples(client.get("/metrics").text)
    name = "artifact_store_http_requests_total"
    missing = {"method": "GET", "route": MANIFEST, "status": "404"}
    assert value(after, name, **missing) - value(before, name, **missing) == 1
    other = {"method": "OTHER", "route": "/v2/", "status": "405"}
    assert value(after, name, **other) - value(before, name, **other) == 1
    assert not any("some/repo" in str(labels) for _, labels in after)
