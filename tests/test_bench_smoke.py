"""A smoke run of the benchmark harness (tiny sizes, one round) so it keeps working.

Every workload must produce every figure on every server, in the printed table
and in the JSON; how fast anything was is not checked. The peers and load tools
that install in seconds come with `make test` (bench/setup-peers.sh --quick):
distribution 2.8.2, crane and the load tools; the peers that take minutes to
build (distribution v3, oha) join the run when `make bench-tools` has built them.
A missing quick one skips the test, or fails it under CI=true.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import pytest

from bench.servers import (
    PEERS,
    REQUEST_RATE,
    SCALING_WORKERS,
    SUBJECT,
    TOOLS_BIN,
    scaling_key,
)
from bench.workloads import WORKLOADS
from tests.conftest import ROOT

LOAD_TOOLS = ("curl", "wrk", "skopeo")
OPTIONAL_PEERS = ("distribution-v3",)  # built by `make bench-tools` only


def missing_tools() -> list[str]:
    needed = [peer for peer in PEERS if peer.key not in OPTIONAL_PEERS]
    peers = [peer.key for peer in needed if peer.find() is None]
    tools = [t for t in LOAD_TOOLS if not (shutil.which(t) or shutil.which(t, path=TOOLS_BIN))]
    return peers + tools


def present_peers() -> list[str]:
    return [peer.key for peer in PEERS if peer.find() is not None]


def table_peers() -> list[str]:
    """The columns of the main table: every peer but the worker-scaling columns."""
    return [key for key in present_peers() if BY_KEY[key].workers is None]


BY_KEY = {peer.key: peer for peer in PEERS}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, object]]:
    missing = missing_tools()
    if missing:
        message = f"not installed (make bench-tools): {', '.join(missing)}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("bench")
    argv = [sys.executable, "-m", "bench", "--smoke", "--out", str(out), "--work-dir", str(out)]
    argv += [arg for key in present_peers() for arg in ("--server", key)]
    env = {**os.environ, "PATH": f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    [path] = out.glob("*-smoke.json")
    return done.stdout, json.loads(path.read_text())


@pytest.mark.clients
def test_every_cell_of_the_json_is_filled(smoke_run: tuple[str, dict[str, object]]) -> None:
    _, result = smoke_run
    keys = present_peers()
    summary = result["summary"]
    assert isinstance(summary, dict)
    assert (result["servers"], result["errors"]) == (table_peers(), [])
    for workload in WORKLOADS:
        for metric in workload.metrics:
            for key in [k for k in keys if BY_KEY[k].runs(workload.name)]:
                cell = summary[workload.name][metric.name][key]
                assert cell is not None, (workload.name, metric.name, key)
                assert math.isfinite(cell["median"]) and cell["n"] == 1


@pytest.mark.clients
def test_artifact_store_has_a_ratio_to_every_peer(
    smoke_run: tuple[str, dict[str, object]],
) -> None:
    _, result = smoke_run
    ratios = result["ratios"]
    assert isinstance(ratios, dict)
    assert sorted(ratios) == sorted(key for key in present_peers() if key != SUBJECT)
    for key, table in ratios.items():
        ran = [w for w in WORKLOADS if BY_KEY[key].runs(w.name)]
        assert sorted(table) == sorted(w.name for w in ran)
        for workload in ran:
            for metric in workload.metrics:
                assert table[workload.name][metric.name] is not None
    targets = result["targets"]
    assert isinstance(targets, list) and targets
    assert all(row["met"] is not None for row in targets)


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table_rows(lines: list[str], header: str) -> list[list[str]]:
    """The rows under `header`, up to the blank line that ends its table."""
    rows = []
    for line in lines[lines.index(header) + 2 :]:
        if not line.startswith("| "):
            break
        rows.append(cells(line))
    return rows


@pytest.mark.clients
def test_the_printed_table_has_every_workload_and_server(
    smoke_run: tuple[str, dict[str, object]],
) -> None:
    table, _ = smoke_run
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("| workload | figure"))
    assert cells(header)[2:] == table_peers()
    rows = table_rows(lines, header)
    assert [row[:2] for row in rows] == [
        [w.name, f"{m.name} {'↑' if m.higher_is_better else '↓'}"]
        for w in WORKLOADS
        for m in w.metrics
    ]
    assert all(len(row) == 2 + len(table_peers()) and "ERR" not in row for row in rows)


@pytest.mark.clients
def test_the_workers_table_has_each_request_rate_workload(
    smoke_run: tuple[str, dict[str, object]],
) -> None:
    table, result = smoke_run
    assert result["scaling"] == {scaling_key(n): n for n in SCALING_WORKERS}
    lines = table.splitlines()
    header = next(line for line in lines if "1 worker(s)" in line)
    assert cells(header) == ["workload", "figure", "1 worker(s)", "2 worker(s)", "4 worker(s)"]
    rows = table_rows(lines, header)
    assert [row[0] for row in rows] == list(REQUEST_RATE)
    assert all("ERR" not in row and len(row) == 5 for row in rows)
