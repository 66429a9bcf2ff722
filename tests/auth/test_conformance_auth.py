"""Both official OCI conformance suites with OCI_USERNAME/OCI_PASSWORD, against a registry
under Basic auth and one under token auth (the suites follow the Bearer challenge to /token)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_conformance import suites

from .helpers import CI, PASSWORDS, POLICY_TOML, start, write_htpasswd, write_settings

pytestmark = pytest.mark.conformance


@pytest.mark.parametrize("mode", ["basic", "token"])
@pytest.mark.parametrize("name", suites.SUITE_NAMES)
def test_conformance_with_credentials(name: str, mode: str, tmp_path: Path) -> None:
    suite = suites.SUITES[name]
    if suite.find_binary() is None:
        message = f"{suite.binary} is not built: run `make conformance-tools` (needs Go)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    htpasswd = write_htpasswd(tmp_path / "htpasswd", PASSWORDS)
    settings = write_settings(tmp_path, POLICY_TOML, auth=mode, auth_htpasswd=str(htpasswd))
    server = start(tmp_path / "data", settings)
    try:
        outcome = suites.run_suite(
            suite,
            server.url,
            report_dir=tmp_path / "report",
            credentials=("alice", PASSWORDS["alice"]),
        )
    finally:
        server.stop()
    print(outcome.summary_line())
    assert outcome.failed == 0, f"{outcome.summary_line()}\n{outcome.failure_report(40)}"
    assert outcome.passed > 0, outcome.summary_line()
    assert PASSWORDS["alice"] not in (tmp_path / "report" / "env.txt").read_text()
