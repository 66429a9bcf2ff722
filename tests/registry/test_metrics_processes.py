"""Metrics across processes: two processes of one server run (sharing the run's metrics
directory, as workers do) and the collectors add up both."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from registry.metrics import multiprocess
from registry.metrics.requests import RequestCollector

# A worker: the app in a process of its own, N requests, then shutdown.
WORKER = """
import sys
from pathlib import Path
from starlette.testclient import TestClient
from registry.app import create_app
from registry.config import Settings

with TestClient(create_app(Settings(data_dir=Path(sys.argv[1])))) as client:
    for _ in range(int(sys.argv[2])):
        assert client.get("/v2/").status_code == 200
"""


def test_two_processes_add_up(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory), "PATH": "/usr/bin:/bin"}
    for name, requests in (("one", 3), ("two", 4)):
        subprocess.run(
            [sys.executable, "-c", WORKER, str(tmp_path / name), str(requests)],
            env=env,
            check=True,
            timeout=120,
        )
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    registry.register(RequestCollector(directory))
    families = {
        f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())
    }
    served = [
        s.value
        for s in families["artifact_store_http_requests"].samples
        if s.labels == {"method": "GET", "route": "/v2/", "status": "200"}
    ]
    assert served == [7]
    assert len(list(directory.glob("requests_*.json"))) == 2
    assert "artifact_store_database_errors" in families  # prometheus_client's own files


def test_a_run_removes_the_directories_of_runs_that_died(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    gone = tmp_path / f"{multiprocess.PREFIX}{dead.stdout.strip()}-abc123"
    running = tmp_path / f"{multiprocess.PREFIX}{os.getpid()}-def456"
    named = tmp_path / "metrics-of-my-own"
    for path in (gone, running, named):
        path.mkdir()
    multiprocess._remove_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([running.name, named.name])
