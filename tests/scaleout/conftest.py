"""Fixtures for the scale-out tests: PostgreSQL, SeaweedFS, nginx and two replicas.

Everything is a real process on 127.0.0.1 that `make scaleout-tools`
(scripts/setup-scaleout.sh) and scripts/setup-s3.sh install. Blobs go to S3
(SeaweedFS) when it is built; otherwise, outside CI, the replicas share one data
directory instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import missing_tool
from tests.scaleout.cluster import Cluster, build_cluster, s3_settings
from tests.scaleout.nginx import nginx_binary
from tests.scaleout.postgres import PostgresServer, start_postgres
from tests.storage.s3server import S3Server, weed_binary

ClusterFactory = Callable[..., Cluster]


def seaweedfs_binary() -> str | None:
    """`weed`, or None outside CI when it is not built (under CI=true: a failure)."""
    try:
        return weed_binary()
    except pytest.skip.Exception:
        return None


@pytest.fixture(scope="session")
def nginx() -> str:
    binary = nginx_binary()
    if binary is None:
        missing_tool("nginx is not installed: run `make scaleout-tools`")
    assert binary is not None
    return binary


def start_seaweedfs(root: Path) -> S3Server | None:
    binary = seaweedfs_binary()
    if binary is None:
        return None
    server = S3Server(root, binary)
    server.start()
    return server


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server | None]:
    """One S3 server for the session's clusters (a bucket each), or None without one."""
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    if server is not None:
        server.stop()


def object_settings(s3: S3Server | None) -> dict[str, str] | None:
    """One bucket per server, a fresh prefix per cluster: SeaweedFS gives every bucket
    volumes of its own, and a few dozen buckets exhaust a small test server."""
    if s3 is None:
        return None
    if s3.endpoint not in _buckets:
        _buckets[s3.endpoint] = s3.new_bucket()
    return s3_settings(s3.endpoint, _buckets[s3.endpoint], s3.env())


_buckets: dict[str, str] = {}  # S3 endpoint -> the bucket the clusters on it share


@pytest.fixture(scope="module")
def cluster(
    postgres: PostgresServer,
    seaweedfs: S3Server | None,
    nginx: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    """Two replicas behind nginx, shared by the tests of a module."""
    built = build_cluster(
        postgres, tmp_path_factory.mktemp("cluster"), nginx, object_settings(seaweedfs)
    )
    try:
        built.start()
        yield built
    finally:
        built.stop()


@pytest.fixture
def make_cluster(
    postgres: PostgresServer, seaweedfs: S3Server | None, nginx: str, tmp_path: Path
) -> Iterator[ClusterFactory]:
    """Clusters of a test's own, optionally on a PostgreSQL or S3 server of its own."""
    built: list[Cluster] = []

    def make(database: PostgresServer | None = None, s3: S3Server | None = None) -> Cluster:
        workdir = tmp_path / f"cluster-{len(built)}"
        workdir.mkdir()
        settings = object_settings(s3 or seaweedfs)
        new = build_cluster(database or postgres, workdir, nginx, settings)
        built.append(new)
        new.start()
        return new

    yield make
    for each in built:
        each.stop()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server the test may stop and start."""
    server = start_postgres()
    if server is None:
        missing_tool("PostgreSQL is not installed: run `make scaleout-tools`")
    assert server is not None
    yield server
    server.close()


@pytest.fixture
def own_seaweedfs(tmp_path: Path) -> Iterator[S3Server]:
    """An S3 server the test may stop and start."""
    server = start_seaweedfs(tmp_path / "seaweedfs")
    if server is None:
        pytest.skip("weed (SeaweedFS) not installed: run scripts/setup-s3.sh")
    assert server is not None
    yield server
    server.stop()
