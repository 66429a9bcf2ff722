"""A real S3-compatible server for tests: SeaweedFS (`weed server -s3`) on 127.0.0.1.

scripts/setup-s3.sh builds `weed` into $TOOLS_DIR/bin. Every port is picked
free and given explicitly (SeaweedFS would otherwise add 10000 for gRPC), and
the server keeps its data in one directory, so it can be stopped and started
again with what it held.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCESS_KEY = "artifactstoretest"
SECRET_KEY = "artifact-store-test-secret-key"
REGION = "us-east-1"
START_TIMEOUT = 60
STOP_GRACE = 2


def weed_binary() -> str:
    """The `weed` executable, or a skip (a failure under CI=true) when it is not built."""
    tools = Path(os.environ.get("TOOLS_DIR", Path.home() / ".cache/artifact-store"))
    found = shutil.which("weed") or shutil.which("weed", path=str(tools / "bin"))
    if found:
        return found
    message = "weed (SeaweedFS) not installed: run scripts/setup-s3.sh"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class S3Server:
    root: Path
    binary: str
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def env(self) -> dict[str, str]:
        """What an S3 client of this server needs in its environment."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def start(self) -> None:
        if not self.ports:
            names = ("master", "volume", "filer", "s3")
            self.ports = {f"{n}{g}": free_port() for n in names for g in ("", ".grpc")}
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        with open(self.root / "weed.log", "ab") as log:
            self.process = subprocess.Popen(
                self._command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.root
            )
        self._wait_until_serving()

    def stop(self) -> None:
        """Stop the server: a short grace, then a kill (its filer waits long on a gone volume)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        # The master's local gRPC socket goes to /tmp whatever -dir says, and stays after a kill.
        Path(f"/tmp/seaweedfs-master-grpc-{self.ports['master.grpc']}.sock").unlink(missing_ok=True)

    def new_bucket(self) -> str:
        """A fresh bucket, written to once (SeaweedFS grows its volumes on the first write)."""
        name = f"test-{uuid.uuid4().hex[:16]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        client.put_object(Bucket=name, Key="probe", Body=b"ok")
        client.delete_object(Bucket=name, Key="probe")
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2")
        return [
            o["Key"]
            for p in pages.paginate(Bucket=bucket, Prefix=prefix)
            for o in p.get("Contents", [])
        ]

    def _command(self) -> list[str]:
        config = self.root / "s3.json"
        config.write_text(json.dumps(_identities()))
        p = self.ports
        return [
            self.binary,
            "server",
            "-s3",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={self.root / 'data'}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master.grpc']}",
            "-master.telemetry=false",
            "-master.electionTimeout=1s",  # a restarted master leads again soon
            "-master.volumeSizeLimitMB=1024",
            "-volume.max=100",  # created as buckets need them, 7 at a time
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume.grpc']}",
            "-volume.preStopSeconds=0",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer.grpc']}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3.grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={self.root / 's3.sock'}",
            f"-s3.config={config}",
        ]

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        client = self.client()
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}; see {self.root}")
            try:
                client.list_buckets()
                if self._has_volume_server():
                    return
            except (BotoCoreError, ClientError, httpx.HTTPError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"SeaweedFS S3 did not serve within {START_TIMEOUT}s; see {self.root}")

    def _has_volume_server(self) -> bool:
        """The master leads and knows a volume server: reads and writes can go through."""
        master = f"http://127.0.0.1:{self.ports['master']}"
        centers = httpx.get(f"{master}/dir/status", timeout=5).json()["Topology"]["DataCenters"]
        return bool(centers)


def registry_env(s3: S3Server, bucket: str, prefix: str, **extra: str) -> dict[str, str]:
    """The environment of an artifact-store process keeping its bytes in `bucket`/`prefix`."""
    return {
        **s3.env(),
        "ARTIFACT_STORE_STORAGE": "s3",
        "ARTIFACT_STORE_S3_BUCKET": bucket,
        "ARTIFACT_STORE_S3_ENDPOINT_URL": s3.endpoint,
        "ARTIFACT_STORE_S3_REGION": REGION,
        "ARTIFACT_STORE_S3_PREFIX": prefix,
        "ARTIFACT_STORE_S3_PART_SIZE": str(5 * 1024 * 1024),
        **{f"ARTIFACT_STORE_{name.upper()}": value for name, value in extra.items()},
    }


def _identities() -> dict[str, object]:
    return {
        "identities": [
            {
                "name": "artifact-store-test",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
