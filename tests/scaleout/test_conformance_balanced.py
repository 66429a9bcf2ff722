"""Both official OCI conformance suites through nginx, against two replicas sharing
PostgreSQL and the object store: every request may land on either replica.

The suites are built by `make conformance-tools`; running and counting is
conformance/suites.py, as for the single-server run in tests/test_conformance.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import missing_tool
from tests.scaleout.conftest import ClusterFactory
from tests.test_conformance import suites


@pytest.mark.conformance
@pytest.mark.parametrize("name", suites.SUITE_NAMES)
def test_conformance_suite_through_the_balancer(
    name: str, make_cluster: ClusterFactory, tmp_path: Path
) -> None:
    suite = suites.SUITES[name]
    if suite.find_binary() is None:
        missing_tool(f"{suite.binary} is not built: run `make conformance-tools` (needs Go)")
    cluster = make_cluster()
    outcome = suites.run_suite(suite, cluster.url, report_dir=tmp_path / "report")
    print(outcome.summary_line())
    report = f"{outcome.summary_line()}\n{outcome.failure_report(80)}\n{cluster.logs()}"
    assert outcome.failed == 0, report
    assert outcome.passed > 0, outcome.summary_line()
    served = cluster.balancer.root / "access.log"
    upstreams = {line.rsplit("-> ", 1)[-1].strip() for line in served.read_text().splitlines()}
    assert {replica.host for replica in cluster.replicas} <= upstreams
