from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from registry.app import create_app
from registry.config import Settings


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(params=["sqlite", "postgresql"])
def metadata_url(request: pytest.FixtureRequest) -> str | None:
    """Every HTTP test runs on the embedded SQLite and on an empty PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres").emptied_database()
    return url


@pytest.fixture
def client(data_dir: Path, metadata_url: str | None) -> Iterator[TestClient]:
    settings = Settings(data_dir=data_dir, metadata_url=metadata_url)
    with TestClient(create_app(settings)) as test_client:
        yield test_client
