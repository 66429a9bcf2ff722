"""Liveness and readiness probes, in process, on SQLite and on a PostgreSQL that goes away."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from registry.app import create_app
from registry.config import Settings
from registry.version import package_version
from tests.scaleout.postgres import PostgresServer


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_probes_answer_when_everything_is_up(tmp_path: Path, method: str) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        live = client.request(method, "/healthz")
        ready = client.request(method, "/readyz")
    assert (live.status_code, ready.status_code) == (200, 200)
    if method == "GET":
        assert live.json() == {"status": "ok", "version": package_version()}
        assert ready.json() == {"status": "ok", "checks": {"database": "ok", "objects": "ok"}}


def test_readiness_follows_the_database(own_postgres: PostgresServer, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", metadata_url=own_postgres.create_database())
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        own_postgres.stop()
        down = client.get("/readyz")
        live = client.get("/healthz")
        own_postgres.start()
        back = client.get("/readyz")
    assert (down.status_code, live.status_code, back.status_code) == (503, 200, 200)
    assert down.json()["status"] == "unavailable"
    assert down.json()["checks"]["database"] == "metadata database unavailable"
    assert down.json()["checks"]["objects"] == "ok"


def test_probes_need_no_credentials(tmp_path: Path) -> None:
    """With authentication on, /v2/ asks for credentials; the probes do not."""
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("")
    settings = Settings(data_dir=tmp_path / "data", auth_htpasswd=htpasswd)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v2/").status_code == 401
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
