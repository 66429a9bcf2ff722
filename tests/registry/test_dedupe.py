"""Global dedupe with per-repository visibility, and the event log."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import cbor2
from sqlalchemy import select
from starlette.testclient import TestClient

from storage.schema import events
from tests.registry.helpers import b3, push_blob, push_image


def test_same_blob_in_three_repositories_is_one_file(client: TestClient, data_dir: Path) -> None:
    data = hashlib.sha256(b"seed").digest() * 40_000  # 1.28 MB
    repos = ["one", "two/a", "three"]
    for repo in repos:
        digest = push_blob(client, repo, data)
    files = [p for p in (data_dir / "objects" / "blobs").rglob("*") if p.is_file()]
    blake3_digest = b3(data)
    assert [p.name for p in files] == [blake3_digest.removeprefix("blake3:")]
    for repo in repos:
        for ref in (digest, blake3_digest):
            assert client.get(f"/v2/{repo}/blobs/{ref}").content == data
    for outsider in ("four", "one/two"):
        for ref in (digest, blake3_digest):
            assert client.head(f"/v2/{outsider}/blobs/{ref}").status_code == 404


def test_events_record_every_change_in_canonical_cbor(client: TestClient, data_dir: Path) -> None:
    digest, _ = push_image(client, "ev", "v1", b"layer")
    client.post(f"/v2/ev2/blobs/uploads/?mount={push_blob(client, 'ev', b'x')}&from=ev")
    client.delete("/v2/ev/manifests/v1")
    client.delete(f"/v2/ev/manifests/{digest}")
    rows = event_rows(client)
    actions = [row[0] for row in rows]
    assert actions == [
        "blob.push",
        "blob.push",
        "manifest.push",
        "tag.push",
        "blob.push",
        "blob.mount",
        "tag.delete",
        "manifest.delete",
    ]
    for action, repository, payload in rows:
        decoded = cbor2.loads(payload)
        assert decoded["action"] == action
        assert decoded["repository"] == repository
        assert decoded["actor"].startswith("anonymous")
        assert cbor2.dumps(decoded, canonical=True) == payload
    manifest_event = cbor2.loads(rows[2][2])
    assert manifest_event["digest"] == digest
    assert manifest_event["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest_event["size"] > 0


def event_rows(client: TestClient) -> list[Any]:
    """The event log, read through the app's own database (SQLite or PostgreSQL)."""

    async def read() -> list[Any]:
        query = select(events.c.action, events.c.repository, events.c.payload)
        async with client.app.state.storage.db.read() as conn:  # type: ignore[attr-defined]
            return list((await conn.execute(query.order_by(events.c.seq))).all())

    return client.portal.call(read)  # type: ignore[union-attr]
