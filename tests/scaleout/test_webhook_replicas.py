"""Two replicas on one PostgreSQL database, both configured with the same sink: each
event reaches the receiver once, in the order of the log; a replica killed in the middle
of a delivery makes the other one take over, which may repeat what was in flight
(same event ids), never lose it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth.flows import push_blob, push_image
from tests.conftest import free_port, wait_until_serving
from tests.receiver import Receiver, notifications_toml
from tests.scaleout.postgres import PostgresServer
from tests.test_webhooks_live import expected, summary, unique

DEFAULT_ACTIONS = {"push", "delete", "mount"}


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]


@dataclass
class Pair:
    """Two replicas sharing a database (and a data directory for blobs)."""

    replicas: list[Replica]
    database: str  # its name on the PostgreSQL server

    def holder(self, postgres: PostgresServer) -> Replica:
        """The replica holding the sink's lease, by the pid in the lease owner."""
        sql = "SELECT lease_owner FROM notification_cursors WHERE lease_owner IS NOT NULL"
        owner = postgres.psql(sql, self.database).stdout.strip()
        pid = int(owner.split(":")[1])
        return next(r for r in self.replicas if pid in processes_of(r.process.pid))


def processes_of(pid: int) -> list[int]:
    """The replica's process and its workers (the lease names the worker delivering)."""
    children = Path(f"/proc/{pid}/task").glob("*/children")
    return [pid, *(int(child) for task in children for child in task.read_text().split())]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.gate = None
    started.stop()


@pytest.fixture
def pair(postgres: PostgresServer, tmp_path: Path, receiver: Receiver) -> Iterator[Pair]:
    config = tmp_path / "artifact-store.toml"
    config.write_text(notifications_toml("shared", receiver.url, backoff="1s"))
    url = postgres.create_database("hooks")
    env = {
        **os.environ,
        "ARTIFACT_STORE_METADATA_URL": url,
        "ARTIFACT_STORE_DATA_DIR": str(tmp_path / "shared-data"),
    }
    started = Pair([], url.rpartition("/")[2])
    try:
        for n in (1, 2):
            started.replicas.append(start_replica(config, env, tmp_path / f"replica-{n}.log"))
        yield started
    finally:
        for replica in started.replicas:
            stop(replica.process)


def start_replica(config: Path, env: dict[str, str], log: Path) -> Replica:
    exe = shutil.which("artifact-store", path=str(Path(sys.executable).parent))
    addr = f"127.0.0.1:{free_port()}"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [exe or "artifact-store", "serve", "--addr", addr, "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    replica = Replica(f"http://{addr}", process)
    try:
        wait_until_serving(replica.url, process)
    except Exception:
        stop(process)
        raise
    return replica


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_records(url: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = httpx.get(f"{url}/v2/_events?n=1000").json()["events"]
    return records


def test_each_event_reaches_the_sink_once(pair: Pair, receiver: Receiver) -> None:
    for n in range(6):
        with httpx.Client(base_url=pair.replicas[n % 2].url, timeout=30) as client:
            push_image(client, f"replicated/app-{n % 3}", f"v{n}", {})
    want = expected(log_records(pair.replicas[0].url), DEFAULT_ACTIONS)
    receiver.wait_for(lambda found: len(found) >= len(want))
    time.sleep(3)  # a second delivery of anything would have come by now
    events = receiver.events()
    assert len({e["id"] for e in events}) == len(events)
    assert [summary(e) for e in events] == want


def test_a_replica_killed_mid_delivery_loses_nothing(
    pair: Pair, receiver: Receiver, postgres: PostgresServer
) -> None:
    with httpx.Client(base_url=pair.replicas[0].url, timeout=30) as client:
        push_blob(client, "killed/app", b"delivered before", {})
    receiver.wait_for(lambda found: len(found) >= 1)
    receiver.gate = threading.Event()  # POSTs are taken, and not answered until it opens
    with httpx.Client(base_url=pair.replicas[1].url, timeout=30) as client:
        push_image(client, "killed/app", "v1", {})
    in_flight = receiver.wait_for(lambda found: len(found) >= 2)[1:]
    holder = pair.holder(postgres)
    holder.process.kill()
    holder.process.wait(timeout=20)
    receiver.gate.set()
    survivor = next(r for r in pair.replicas if r is not holder)
    with httpx.Client(base_url=survivor.url, timeout=30) as client:
        push_blob(client, "killed/app", b"after the takeover", {})
    want = expected(log_records(survivor.url), DEFAULT_ACTIONS)
    events = receiver.wait_for(lambda found: len(unique(found)) >= len(want), timeout=90)
    assert [summary(e) for e in unique(events)] == want
    ids = [e["id"] for e in events]
    repeated = {i for i in ids if ids.count(i) > 1}
    assert repeated <= {e["id"] for e in in_flight}  # only what was in flight comes twice
