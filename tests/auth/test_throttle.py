"""The limit on failed logins per client address."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from registry.app import create_app
from registry.auth.throttle import LoginThrottle
from registry.errors import TooManyFailures

from .flows import basic
from .helpers import PASSWORDS, SERVICE, load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_and_addresses() -> None:
    clock = Clock()
    throttle = LoginThrottle(3, 60, clock)
    for _ in range(3):
        throttle.check("10.0.0.1")
        throttle.failed("10.0.0.1")
    with pytest.raises(TooManyFailures) as raised:
        throttle.check("10.0.0.1")
    assert raised.value.retry_after == 61
    throttle.check("10.0.0.2")  # other addresses are not affected
    clock.now += 61
    throttle.check("10.0.0.1")  # the window has passed


def test_success_clears_and_zero_disables() -> None:
    throttle = LoginThrottle(2, 60, Clock())
    throttle.failed("a")
    throttle.succeeded("a")
    throttle.failed("a")
    throttle.check("a")
    unlimited = LoginThrottle(0, 60, Clock())
    for _ in range(100):
        unlimited.failed("a")
    unlimited.check("a")


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_too_many_failures_get_429(tmp_path: Path, htpasswd: Path, mode: str) -> None:
    settings = load_settings(tmp_path, auth=mode, auth_htpasswd=str(htpasswd), auth_max_failures=3)
    login = "/v2/" if mode == "basic" else f"/token?service={SERVICE}"
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            assert client.get(login, headers=basic("bob", "guess")).status_code == 401
        locked = client.get(login, headers=basic("bob", PASSWORDS["bob"]))
        assert locked.status_code == 429
        assert locked.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert int(locked.headers["Retry-After"]) > 0
        assert client.get("/v2/").status_code == 401  # no credentials, nothing to throttle
