"""nginx from Debian as the load balancer: round-robin over the replicas on 127.0.0.1.

The proxy settings are those of deploy/nginx.conf (streamed bodies both ways, no
size limit, a failed connect moves on to the next replica) with plain round-robin
instead of upload-id affinity, so consecutive requests alternate between replicas.
Each response names the replica that served it in `X-Upstream`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

TIMEOUT = 30

CONFIG = """\
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
daemon off;
{user}
events {{ worker_connections 512; }}

http {{
    log_format upstream '$remote_addr "$request" $status $body_bytes_sent -> $upstream_addr';
    access_log {root}/access.log upstream;
    client_body_temp_path {root}/temp/body;
    proxy_temp_path {root}/temp/proxy;
    fastcgi_temp_path {root}/temp/fastcgi;
    uwsgi_temp_path {root}/temp/uwsgi;
    scgi_temp_path {root}/temp/scgi;

    upstream registry {{
{servers}
    }}

    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://registry;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_connect_timeout 2s;
            proxy_read_timeout 300s;
            proxy_send_timeout 300s;
            proxy_next_upstream error timeout non_idempotent;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


class LoadBalancer:
    def __init__(self, binary: str, upstreams: list[str]) -> None:
        self.binary = binary
        self.port = free_port()
        # nginx workers drop root to `nobody`: the directory must be theirs to enter.
        self.root = Path(tempfile.mkdtemp(prefix="artifact-store-nginx-"))
        self.root.chmod(0o755)
        self.process: subprocess.Popen[bytes] | None = None
        self.write_config(upstreams)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def write_config(self, upstreams: list[str]) -> None:
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.root / "temp" / name).mkdir(parents=True, exist_ok=True)
            (self.root / "temp" / name).chmod(0o777)
        servers = "\n".join(f"        server {up} max_fails=1 fail_timeout=5s;" for up in upstreams)
        user = "user nobody nogroup;" if os.geteuid() == 0 else ""
        text = CONFIG.format(root=self.root, port=self.port, servers=servers, user=user)
        (self.root / "nginx.conf").write_text(text)

    def start(self) -> None:
        command = [self.binary, "-p", str(self.root), "-c", str(self.root / "nginx.conf")]
        with open(self.root / "stderr.log", "ab") as log:
            self.process = subprocess.Popen(
                [*command, "-e", str(self.root / "error.log")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.errors()}")
            try:
                httpx.get(f"{self.url}/healthz", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"nginx did not listen within {TIMEOUT}s: {self.errors()}")

    def errors(self) -> str:
        logs = [self.root / "stderr.log", self.root / "error.log"]
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in logs if p.exists())

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
        try:
            self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
