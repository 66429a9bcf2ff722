"""A whole-blob GET goes out as the blob's file where the server sends files itself (the
ASGI pathsend extension, which granian has), with the same headers as a streamed one;
ranges, and servers without the extension, stream."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.types import Message

from registry.app import create_app
from registry.config import Settings

REPO = "files/repo"
PATHSEND: dict[str, Any] = {"http.response.pathsend": {}}


async def get(
    app: Any, path: str, extensions: dict[str, Any], *headers: tuple[bytes, bytes]
) -> list[Message]:
    """One GET straight into the app, as a server with `extensions` makes it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"registry"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 5000),
        "extensions": extensions,
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.fixture
def pushed(tmp_path: Path) -> tuple[Any, str, bytes]:
    data = os.urandom(3 * 1024 * 1024 + 5)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    app = create_app(Settings(data_dir=tmp_path / "data"))
    with TestClient(app) as client:
        assert (
            client.post(f"/v2/{REPO}/blobs/uploads/?digest={digest}", content=data).status_code
            == 201
        )
    return app, digest, data


def headers_of(start: Message) -> dict[bytes, bytes]:
    return {k: v for k, v in start["headers"] if k not in (b"x-request-id",)}


async def test_a_whole_blob_goes_out_as_its_file_with_the_streamed_headers(
    pushed: tuple[Any, str, bytes],
) -> None:
    app, digest, data = pushed
    path = f"/v2/{REPO}/blobs/{digest}"
    async with app.router.lifespan_context(app):
        as_file = await get(app, path, PATHSEND)
        streamed = await get(app, path, {})
    assert [m["type"] for m in as_file] == ["http.response.start", "http.response.pathsend"]
    assert await asyncio.to_thread(Path(as_file[1]["path"]).read_bytes) == data
    assert streamed[0]["type"] == "http.response.start"
    assert headers_of(as_file[0]) == headers_of(streamed[0])
    assert headers_of(as_file[0])[b"etag"] == f'"{digest}"'.encode()
    assert b"".join(m.get("body", b"") for m in streamed[1:]) == data


async def test_a_range_streams_even_where_the_server_sends_files(
    pushed: tuple[Any, str, bytes],
) -> None:
    app, digest, data = pushed
    async with app.router.lifespan_context(app):
        ranged = await get(
            app,
            f"/v2/{REPO}/blobs/{digest}",
            {"http.response.pathsend": {}},
            (b"range", b"bytes=10-19"),
        )
    assert ranged[0]["status"] == 206
    assert {m["type"] for m in ranged[1:]} == {"http.response.body"}
    assert b"".join(m.get("body", b"") for m in ranged[1:]) == data[10:20]
