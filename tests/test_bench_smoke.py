"""A smoke run of the benchmark harness (tiny sizes, one round) so it keeps working.

Every workload must produce every figure on every server, in the printed table
and in the JSON; how fast anything was is not checked. The peers and load tools
come from `make bench-tools` (bench/setup-peers.sh): missing ones skip the test,
or fail it under CI=true.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import pytest

from bench.servers import PEERS, SUBJECT, TOOLS_BIN
from bench.workloads import WORKLOADS
from tests.conftest import ROOT

LOAD_TOOLS = ("curl", "wrk", "oha", "skopeo")


def missing_tools() -> list[str]:
    peers = [peer.key for peer in PEERS if peer.find() is None]
    tools = [t for t in LOAD_TOOLS if not (shutil.which(t) or shutil.which(t, path=TOOLS_BIN))]
    return peers + tools


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
    env = {**os.environ, "PATH": f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    [path] = out.glob("*-smoke.json")
    return done.stdout, json.loads(path.read_text())


@pytest.mark.clients
def test_every_cell_of_the_json_is_filled(smoke_run: tuple[str, dict[str, object]]) -> None:
    _, result = smoke_run
    keys = [peer.key for peer in PEERS]
    summary = result["summary"]
    assert isinstance(summary, dict)
    assert (result["servers"], result["errors"]) == (keys, [])
    for workload in WORKLOADS:
        for metric in workload.metrics:
            for key in keys:
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
    assert sorted(ratios) == sorted(peer.key for peer in PEERS if peer.key != SUBJECT)
    for table in ratios.values():
        for workload in WORKLOADS:
            for metric in workload.metrics:
                assert table[workload.name][metric.name] is not None
    assert result["targets"] and all(row["met"] is not None for row in result["targets"])


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


@pytest.mark.clients
def test_the_printed_table_has_every_workload_and_server(
    smoke_run: tuple[str, dict[str, object]],
) -> None:
    table, _ = smoke_run
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("| workload | figure"))
    assert cells(header)[2:] == [peer.key for peer in PEERS]
    rows = [cells(line) for line in lines if line.startswith("| ") and "±" in line]
    assert [row[:2] for row in rows] == [
        [w.name, f"{m.name} {'↑' if m.higher_is_better else '↓'}"]
        for w in WORKLOADS
        for m in w.metrics
    ]
    assert all(len(row) == 2 + len(PEERS) and "ERR" not in row for row in rows)
