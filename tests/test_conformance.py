"""The official OCI distribution-spec conformance suites against a fresh artifact-store,
on each HTTP server, in one process and in two worker processes sharing one data dir.

The suites are built by `make conformance-tools` (conformance/build.sh) into
$TOOLS_DIR/bin; running and counting is shared with `make conformance` through
conformance/suites.py.  A missing suite binary skips, or fails under CI=true.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT, start_server, stop_server


def _load_suites() -> ModuleType:
    path = ROOT / "conformance" / "suites.py"
    spec = importlib.util.spec_from_file_location("conformance_suites", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


suites = _load_suites()


SERVED = [
    pytest.param(server, workers, id=f"{server}-{workers}w")
    for server in ("granian", "hypercorn")
    for workers in (1, 2)
]


@pytest.mark.conformance
@pytest.mark.parametrize(("server", "workers"), SERVED)
@pytest.mark.parametrize("name", suites.SUITE_NAMES)
def test_conformance_suite(name: str, server: str, workers: int, tmp_path: Path) -> None:
    suite = suites.SUITES[name]
    if suite.find_binary() is None:
        message = f"{suite.binary} is not built: run `make conformance-tools` (needs Go)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)

    live = start_server(tmp_path / "data", "--server", server, "--workers", str(workers))
    try:
        outcome = suites.run_suite(suite, live.url)
    finally:
        stop_server(live)

    print(outcome.summary_line())
    assert outcome.failed == 0, (
        f"{outcome.summary_line()}\nreports in {outcome.report_dir}\n{outcome.failure_report(80)}"
    )
    assert outcome.passed > 0, outcome.summary_line()


@pytest.mark.conformance
@pytest.mark.parametrize("name", suites.SUITE_NAMES)
def test_conformance_with_the_collector_running(name: str, tmp_path: Path) -> None:
    """gc every 2 seconds in the server (grace 60s, untagged manifests too) while the suite
    pushes, mounts and deletes: nothing it relies on goes away under it."""
    suite = suites.SUITES[name]
    if suite.find_binary() is None:
        pytest.skip(f"{suite.binary} is not built: run `make conformance-tools` (needs Go)")
    collecting = ("--gc-interval", "1s", "--gc-grace", "60s", "--gc-delete-untagged")
    live = start_server(tmp_path / "data", "--workers", "2", *collecting)
    try:
        outcome = suites.run_suite(suite, live.url)
        collected = _wait_for_line(tmp_path / "data.log", "gc: ")
    finally:
        stop_server(live)
    assert outcome.failed == 0, f"{outcome.summary_line()}\n{outcome.failure_report(80)}"
    assert outcome.passed > 0, outcome.summary_line()
    assert collected, "the collector never ran"


def _wait_for_line(log: Path, text: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return True
        time.sleep(0.5)
    return False
