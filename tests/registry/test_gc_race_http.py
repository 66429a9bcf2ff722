"""A push that meets a sweep of the same content, as a client sees it: 503 UNAVAILABLE with a
Retry-After, nothing visible; pushed again once the sweep is over, it succeeds."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import Executable, delete, update
from starlette.testclient import TestClient

from storage import layout
from storage.schema import blobs, digest_aliases, repository_blobs

DATA = b"content a sweep is deleting"
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


def run_sql(client: TestClient, *statements: Executable) -> None:
    async def execute() -> None:
        async with client.app.state.storage.db.write() as conn:  # type: ignore[attr-defined]
            for statement in statements:
                await conn.execute(statement)

    client.portal.call(execute)  # type: ignore[union-attr]


def push(client: TestClient, repo: str) -> tuple[int, dict[str, str], bytes]:
    response = client.post(f"/v2/{repo}/blobs/uploads/?digest={DIGEST}", content=DATA)
    return response.status_code, dict(response.headers), response.content


def test_a_push_during_a_sweep_is_refused_for_a_retry(client: TestClient) -> None:
    assert push(client, "sweep/first")[0] == 201
    # What gc leaves mid-sweep: no link, and the row marked while its bytes go.
    run_sql(
        client,
        delete(repository_blobs),
        update(blobs).values(sweeping=datetime.now(UTC)),
    )

    status, headers, body = push(client, "sweep/second")

    assert (status, headers.get("retry-after")) == (503, "1")
    assert b'"UNAVAILABLE"' in body
    assert client.head(f"/v2/sweep/second/blobs/{DIGEST}").status_code == 404
    finish_the_sweep(client)
    assert push(client, "sweep/second")[0] == 201
    assert client.get(f"/v2/sweep/second/blobs/{DIGEST}").content == DATA


def finish_the_sweep(client: TestClient) -> None:
    """What the sweep does next: the bytes, then the rows."""
    storage = client.app.state.storage  # type: ignore[attr-defined]

    async def drop_bytes() -> None:
        async for stored in storage.objects.list(layout.BLOBS):
            await storage.objects.delete(stored)

    client.portal.call(drop_bytes)  # type: ignore[union-attr]
    run_sql(client, delete(digest_aliases), delete(blobs))
