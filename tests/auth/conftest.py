"""Fixtures for the auth tests: in-process apps under basic and token auth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from registry.app import create_app

from .helpers import PASSWORDS, load_settings, write_htpasswd


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    return write_htpasswd(tmp_path / "htpasswd", PASSWORDS)


@pytest.fixture
def basic_client(tmp_path: Path, htpasswd: Path) -> Iterator[TestClient]:
    settings = load_settings(tmp_path, auth_htpasswd=str(htpasswd))
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def token_client(tmp_path: Path, htpasswd: Path) -> Iterator[TestClient]:
    settings = load_settings(tmp_path, auth="token", auth_htpasswd=str(htpasswd))
    with TestClient(create_app(settings)) as client:
        yield client
