"""The event stream, the usage report and the metrics need the admin grant when auth is on:
an admin in the policy (basic), or a token with `registry:events:*`, `registry:usage:*` or
`registry:metrics:*`."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from .flows import basic, bearer, push_blob, token
from .helpers import PASSWORDS

ALICE = basic("alice", PASSWORDS["alice"])  # in the admins group
BOB = basic("bob", PASSWORDS["bob"])
MANIFEST = "/v2/{name:path}/manifests/{reference}"


@pytest.mark.parametrize("path", ["/v2/_events", "/v2/_usage", "/metrics"])
def test_basic_admins_only(basic_client: TestClient, path: str) -> None:
    assert basic_client.get(path, headers=ALICE).status_code == 200
    assert basic_client.get(path, headers=BOB).status_code == 403
    assert basic_client.get(path).status_code == 401


@pytest.mark.parametrize(
    ("path", "resource"),
    [("/v2/_events", "events"), ("/v2/_usage", "usage"), ("/metrics", "metrics")],
)
def test_tokens_need_the_registry_scope(token_client: TestClient, path: str, resource: str) -> None:
    challenge = token_client.get(path)
    assert challenge.status_code == 401
    assert f'scope="registry:{resource}:*"' in challenge.headers["www-authenticate"]
    granted = token(token_client, "alice", PASSWORDS["alice"], f"registry:{resource}:*")
    assert token_client.get(path, headers=bearer(granted)).status_code == 200
    other = token(token_client, "alice", PASSWORDS["alice"], "repository:team/app:pull")
    assert token_client.get(path, headers=bearer(other)).status_code in (401, 403)
    refused = token(token_client, "bob", PASSWORDS["bob"], f"registry:{resource}:*")
    assert token_client.get(path, headers=bearer(refused)).status_code in (401, 403)


def test_events_name_the_signed_in_actor(basic_client: TestClient) -> None:
    push_blob(basic_client, "team/app", b"pushed by bob", BOB)
    records = basic_client.get("/v2/_events", headers=ALICE).json()["events"]
    assert records[-1]["actor"].startswith("bob@")
    assert records[-1]["request"]["method"] == "POST"


def test_requests_refused_before_routing_count_under_their_route(basic_client: TestClient) -> None:
    def refused() -> float:
        text = basic_client.get("/metrics", headers=ALICE).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "artifact_store_http_requests_total"
            and sample.labels == {"method": "GET", "route": MANIFEST, "status": "401"}
        )

    before = refused()
    assert basic_client.get("/v2/team/app/manifests/v1").status_code == 401
    assert refused() == before + 1
