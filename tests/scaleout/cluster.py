"""A scaled-out registry on one machine: two artifact-store processes sharing one
PostgreSQL database and one object store (a SeaweedFS bucket, or one data directory
when SeaweedFS is not built), with nginx round-robin in front.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import free_port, wait_until_serving
from tests.scaleout.nginx import LoadBalancer
from tests.scaleout.postgres import PostgresServer

STOP_TIMEOUT = 20


@dataclass
class Replica:
    name: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> None:
        exe = shutil.which("artifact-store", path=str(Path(sys.executable).parent))
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [exe or "artifact-store", "serve", "--addr", self.host],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
            )
        wait_until_serving(self.url, self.process)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as when a node dies."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
            self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@dataclass
class Cluster:
    postgres: PostgresServer
    database_url: str
    replicas: list[Replica]
    balancer: LoadBalancer
    backend: str  # "s3" or "filesystem"

    @property
    def url(self) -> str:
        return self.balancer.url

    @property
    def host(self) -> str:
        return self.balancer.host

    def client(self, timeout: float = 60) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def replica_for(self, response: httpx.Response) -> Replica:
        """The replica that served a response that came through the load balancer."""
        served = response.headers["X-Upstream"].split(",")[-1].strip()
        return next(r for r in self.replicas if r.host == served)

    def start(self) -> None:
        for replica in self.replicas:
            replica.start()
        self.balancer.start()

    def stop(self) -> None:
        self.balancer.close()
        for replica in self.replicas:
            replica.stop()

    def logs(self) -> str:
        texts = [
            f"--- {r.name}\n{r.log.read_text(errors='replace')[-3000:]}" for r in self.replicas
        ]
        return "\n".join([*texts, f"--- nginx\n{self.balancer.errors()}"])


def replica_env(
    database_url: str, data_dir: Path, s3: dict[str, str] | None = None
) -> dict[str, str]:
    """The settings every replica shares: only environment variables, as in deploy/."""
    env = {
        "ARTIFACT_STORE_METADATA_URL": database_url,
        "ARTIFACT_STORE_DATA_DIR": str(data_dir),
        "ARTIFACT_STORE_LOG_LEVEL": "warning",
    }
    return {**env, **(s3 or {})}


def build_cluster(
    postgres: PostgresServer,
    workdir: Path,
    nginx: str,
    s3: dict[str, str] | None = None,
    replicas: int = 2,
) -> Cluster:
    """Replicas and a balancer, not yet started, on a new database of `postgres`."""
    database_url = postgres.create_database("cluster")
    data_dir = workdir / "shared-data"  # the blobs when there is no S3; SQLite is never used
    env = replica_env(database_url, data_dir, s3)
    members = [
        Replica(f"replica-{i + 1}", env, workdir / f"replica-{i + 1}.log") for i in range(replicas)
    ]
    balancer = LoadBalancer(nginx, [r.host for r in members])
    return Cluster(postgres, database_url, members, balancer, "s3" if s3 else "filesystem")


def s3_settings(endpoint: str, bucket: str, credentials: dict[str, str]) -> dict[str, str]:
    return {
        "ARTIFACT_STORE_STORAGE": "s3",
        "ARTIFACT_STORE_S3_BUCKET": bucket,
        "ARTIFACT_STORE_S3_ENDPOINT_URL": endpoint,
        "ARTIFACT_STORE_S3_REGION": credentials.get("AWS_DEFAULT_REGION", "us-east-1"),
        "ARTIFACT_STORE_S3_PREFIX": f"cluster-{uuid.uuid4().hex[:8]}",
        **credentials,
    }
