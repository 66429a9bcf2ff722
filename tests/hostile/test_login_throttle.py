"""Concurrent wrong passwords: at most the limit is ever checked, the right one included."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from registry.app import create_app
from tests.auth.flows import basic
from tests.auth.helpers import PASSWORDS, load_settings, write_htpasswd

LIMIT = 3
GUESSES = 24


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[TestClient]:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", PASSWORDS)
    settings = load_settings(tmp_path, auth_htpasswd=str(htpasswd), auth_max_failures=LIMIT)
    with TestClient(create_app(settings)) as client:
        yield client


def test_concurrent_guesses_stop_at_the_limit(guarded: TestClient) -> None:
    def attempt(i: int) -> int:
        password = PASSWORDS["bob"] if i == GUESSES - 1 else f"guess{i}"
        return int(guarded.get("/v2/", headers=basic("bob", password)).status_code)

    with ThreadPoolExecutor(GUESSES) as pool:
        statuses = list(pool.map(attempt, range(GUESSES)))
    checked = [s for s in statuses if s != 429]
    assert len(checked) <= LIMIT, statuses
    assert statuses.count(429) >= GUESSES - LIMIT


def test_success_after_a_failure_still_clears(guarded: TestClient) -> None:
    assert guarded.get("/v2/", headers=basic("bob", "wrong")).status_code == 401
    assert guarded.get("/v2/", headers=basic("bob", PASSWORDS["bob"])).status_code == 200
    for _ in range(LIMIT):
        assert guarded.get("/v2/", headers=basic("bob", "wrong")).status_code == 401
    assert guarded.get("/v2/", headers=basic("bob", PASSWORDS["bob"])).status_code == 429
