"""Helpers for the client compatibility tests: commands, recording proxy, OCI layouts.

The tools come from `make clients` (scripts/setup-clients.sh): Go tools in
$TOOLS_DIR/bin, the rest from Debian. A missing tool skips its test, or fails it
under CI=true. Everything runs through `run()`, which has a timeout and, on
failure, shows the command's output and the tail of the server's log.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

CI = os.environ.get("CI") == "true"
TOOLS_BIN = Path(os.environ.get("TOOLS_DIR", Path.home() / ".cache" / "artifact-store")) / "bin"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])

MIB = 1024 * 1024
BIG_LAYER_SIZE = 64 * MIB + 123_457  # just over 64 MiB


# --------------------------------------------------------------------------- tools


def tool(name: str) -> str:
    """Path of a client tool: $TOOLS_DIR/bin first, then PATH. Skips (fails under CI) if absent."""
    candidate = TOOLS_BIN / name
    path = str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
    path = path or shutil.which(name)
    if path is None:
        message = f"{name} is not installed (run `make clients`)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def docker_cli() -> str:
    """The docker CLI of Debian's docker.io (matching its dockerd), else whatever is on PATH."""
    if os.access("/usr/bin/docker", os.X_OK):
        return "/usr/bin/docker"
    return tool("docker")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


# --------------------------------------------------------------------------- running commands

_LOG_TAIL_LINES = 60


@dataclass
class Registry:
    """The registry under test, as clients address it."""

    server: Any  # tests/conftest.py's LiveServer
    host: str  # what clients are given: the server itself, or a recording proxy in front
    recorder: RecordingProxy | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        data_dir = self.server.data_dir
        if data_dir is None:
            return "(external registry: no server log)"
        log = data_dir.parent / f"{data_dir.name}.log"
        if not log.exists():
            return f"(no log at {log})"
        text = log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def diagnostics(self) -> str:
        parts = []
        if self.recorder is not None:
            failed = [r for r in self.recorder.requests if r.status >= 400 or r.status == 0]
            if failed:
                parts.append("failed HTTP requests (through the recording proxy):")
                parts.extend(f"  {r}" for r in failed[-20:])
        parts.append(f"server log tail ({self.server.host}):\n{self.log_tail()}")
        return "\n".join(parts)


current_registry: Registry | None = None


class CommandFailed(AssertionError):
    pass


def run(
    cmd: Sequence[str | Path],
    *,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    check: bool = True,
    input: bytes | None = None,
    cwd: Path | str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs a client command with a timeout; a failure shows its output and the server log."""
    argv = [str(c) for c in cmd]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            input=input,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(
            f"timed out after {timeout}s: {' '.join(argv)}\n"
            f"stdout: {_tail(exc.stdout)}\nstderr: {_tail(exc.stderr)}\n{_diagnostics()}"
        ) from None
    result = subprocess.CompletedProcess(
        argv,
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
    )
    if check and proc.returncode != 0:
        raise CommandFailed(
            f"exit {proc.returncode}: {' '.join(argv)}\n"
            f"stdout: {_tail(result.stdout)}\nstderr: {_tail(result.stderr)}\n{_diagnostics()}"
        )
    return result


def _tail(data: str | bytes | None, limit: int = 4000) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        data = data.decode(errors="replace")
    return data if len(data) <= limit else "..." + data[-limit:]


def _diagnostics() -> str:
    return current_registry.diagnostics() if current_registry is not None else ""


def run_json(cmd: Sequence[str | Path], **kwargs: Any) -> Any:
    out = run(cmd, **kwargs).stdout
    try:
        return json.loads(out)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"not JSON from {' '.join(map(str, cmd))}: {out[:2000]!r}") from exc


# --------------------------------------------------------------------------- recording proxy

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


@dataclass
class RecordedRequest:
    method: str
    path: str
    status: int
    request_headers: dict[str, str]
    response_headers: dict[str, str]
    request_body_len: int
    chunked: bool
    error_body: str = ""

    def __str__(self) -> str:
        extra = ""
        if "content-range" in self.request_headers:
            extra += f" Content-Range={self.request_headers['content-range']}"
        if self.chunked:
            extra += " (Transfer-Encoding: chunked)"
        body = f" -> {self.error_body}" if self.error_body else ""
        return (
            f"{self.method} {self.path} [{self.request_body_len} bytes{extra}] {self.status}{body}"
        )


class RecordingProxy:
    """A reverse proxy on 127.0.0.1 that forwards to the registry and records each request.

    Bodies are streamed both ways; a chunked request body is forwarded chunked."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one_request(self) -> None:
                with contextlib.suppress(ConnectionError, TimeoutError, OSError):
                    if self.rfile.peek(1)[:1] == b"\x16":  # type: ignore[attr-defined]
                        # A TLS ClientHello: answer in plain HTTP, as the registry would, so
                        # clients that probe https first fall back to http.
                        self.wfile.write(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                        self.close_connection = True
                        return
                    super().handle_one_request()

            def _forward(self) -> None:
                proxy._forward(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _forward(self, h: BaseHTTPRequestHandler) -> None:
        method = h.command
        chunked = "chunked" in h.headers.get("Transfer-Encoding", "").lower()
        length = int(h.headers.get("Content-Length") or 0)
        req_headers = {k.lower(): v for k, v in h.headers.items()}
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP_BY_HOP}
        body_len = 0

        def chunks() -> Iterator[bytes]:
            nonlocal body_len
            while True:
                size_line = h.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while h.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                data = h.rfile.read(size)
                h.rfile.readline(65537)
                body_len += len(data)
                yield data

        def fixed() -> Iterator[bytes]:
            nonlocal body_len
            remaining = length
            while remaining > 0:
                data = h.rfile.read(min(remaining, MIB))
                if not data:
                    return
                remaining -= len(data)
                body_len += len(data)
                yield data

        host, port = self.upstream.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=600)
        status = 0
        error_body = ""
        resp_headers: dict[str, str] = {}
        try:
            conn.putrequest(method, h.path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            if chunked:
                for data in chunks():
                    conn.send(f"{len(data):X}\r\n".encode() + data + b"\r\n")
                conn.send(b"0\r\n\r\n")
            else:
                for data in fixed():
                    conn.send(data)
            resp = conn.getresponse()
            status = resp.status
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
            h.send_response_only(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() in _HOP_BY_HOP:
                    continue
                if k.lower() == "location":
                    v = v.replace(f"//{self.upstream}", f"//{self.host}")
                h.send_header(k, v)
            if method == "HEAD" or status in (204, 304) or status < 200:
                h.end_headers()
            elif "content-length" in resp_headers:
                h.end_headers()
                first = True
                while data := resp.read(MIB):
                    if status >= 400 and first:
                        error_body = data[:2000].decode(errors="replace")
                    first = False
                    h.wfile.write(data)
            else:
                data = resp.read()
                if status >= 400:
                    error_body = data[:2000].decode(errors="replace")
                h.send_header("Content-Length", str(len(data)))
                h.end_headers()
                h.wfile.write(data)
            h.wfile.flush()
        except Exception as exc:
            error_body = f"proxy error: {exc!r}"
            if status == 0:
                with contextlib.suppress(Exception):
                    h.send_error(502, "bad gateway")
            h.close_connection = True
        finally:
            conn.close()
            with self._lock:
                self.requests.append(
                    RecordedRequest(
                        method,
                        h.path,
                        status,
                        req_headers,
                        resp_headers,
                        body_len,
                        chunked,
                        error_body,
                    )
                )

    def matching(self, method: str, pattern: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()


# --------------------------------------------------------------------------- registry HTTP helpers


def assert_blobs_not_resent(registry: Registry, repo: str, digests: set[str]) -> set[str]:
    """Each blob reached `repo` without its bytes being sent again: mounted from another
    repository (POST ?mount=&from= answered 201) or already there (HEAD 200). Returns the
    mounted ones."""
    assert registry.recorder is not None
    requests = [r for r in registry.recorder.requests if r.path.startswith(f"/v2/{repo}/")]

    def names(r: RecordedRequest, digest: str) -> bool:
        return digest in r.path.replace("%3A", ":")

    mounted = {
        d
        for d in digests
        for r in requests
        if r.method == "POST" and "mount=" in r.path and r.status == 201 and names(r, d)
    }
    present = {
        d
        for d in digests
        for r in requests
        if r.method == "HEAD" and "/blobs/sha256:" in r.path and r.status == 200 and names(r, d)
    }
    uploaded = {
        d
        for d in digests
        for r in requests
        if r.method in ("PUT", "PATCH") and "/blobs/uploads/" in r.path and names(r, d)
    }
    log = "\n".join(str(r) for r in requests)
    assert not uploaded, f"blobs sent again to {repo}: {uploaded}\n{log}"
    assert digests <= mounted | present, f"blobs neither mounted nor present in {repo}\n{log}"
    return mounted


def http_get(
    registry: Registry, path: str, accept: str = MANIFEST_ACCEPT
) -> tuple[int, dict[str, str], bytes]:
    """A plain GET straight to the server (not through any proxy)."""
    host, port = registry.server.host.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("GET", path, headers={"Accept": accept})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def fetch_manifest(registry: Registry, repo: str, ref: str) -> tuple[bytes, str, str]:
    """(bytes, media type, Docker-Content-Digest) of a manifest, asserting a 200."""
    status, headers, body = http_get(registry, f"/v2/{repo}/manifests/{ref}")
    assert status == 200, f"GET /v2/{repo}/manifests/{ref} -> {status}: {body[:500]!r}"
    return body, headers.get("content-type", ""), headers.get("docker-content-digest", "")


# --------------------------------------------------------------------------- image generation


@dataclass
class Layer:
    descriptor: dict[str, Any]
    diff_id: str


@dataclass
class OciImage:
    layout: Path
    tag: str
    manifest_digest: str
    manifest: dict[str, Any]
    manifest_bytes: bytes
    config_digest: str
    layers: list[Layer]
    architecture: str = "amd64"

    @property
    def oci_ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"


@dataclass
class MultiArchImage:
    layout: Path
    tag: str
    index_digest: str
    index: dict[str, Any]
    index_bytes: bytes
    images: dict[str, OciImage] = field(default_factory=dict)  # by architecture

    @property
    def oci_ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"


class OciLayoutWriter:
    """Writes an OCI image layout (oci-layout, index.json, blobs/sha256/...)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        self.index: dict[str, Any] = {"schemaVersion": 2, "manifests": []}

    def add_blob(self, data: bytes) -> str:
        digest = sha256_digest(data)
        (self.path / "blobs" / "sha256" / digest.split(":", 1)[1]).write_bytes(data)
        return digest

    def tag(self, descriptor: dict[str, Any], name: str) -> None:
        desc = dict(descriptor)
        desc["annotations"] = {
            **desc.get("annotations", {}),
            "org.opencontainers.image.ref.name": name,
        }
        self.index["manifests"].append(desc)
        (self.path / "index.json").write_text(json.dumps(self.index, indent=2))

    def add_layer(self, files: dict[str, bytes], compression: str) -> Layer:
        tar_bytes = make_tar(files)
        if compression == "gzip":
            blob = gzip.compress(tar_bytes, compresslevel=1, mtime=0)
            media_type = OCI_LAYER_GZIP
        elif compression == "zstd":
            zstd = shutil.which("zstd")
            if zstd is None:
                pytest.fail("zstd is needed to build zstd layers (run `make clients`)")
            blob = subprocess.run(
                [zstd, "-q", "-3", "-c"],
                input=tar_bytes,
                capture_output=True,
                check=True,
                timeout=120,
            ).stdout
            media_type = OCI_LAYER_ZSTD
        else:
            raise ValueError(compression)
        digest = self.add_blob(blob)
        return Layer(
            {"mediaType": media_type, "digest": digest, "size": len(blob)}, sha256_digest(tar_bytes)
        )

    def add_image(
        self,
        layers: list[Layer],
        architecture: str = "amd64",
        annotations: dict[str, str] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], bytes, str]:
        config = {
            "created": "2024-01-01T00:00:00Z",
            "architecture": architecture,
            "os": "linux",
            "config": {
                "Env": ["PATH=/usr/bin:/bin"],
                "Cmd": ["/bin/sh"],
                "Labels": {"test": "artifact-store"},
            },
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": [
                {"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"}
                for i in range(len(layers))
            ],
        }
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_digest = self.add_blob(config_bytes)
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": [layer.descriptor for layer in layers],
        }
        if annotations:
            manifest["annotations"] = annotations
        manifest_bytes = json.dumps(manifest, indent=2).encode()
        digest = self.add_blob(manifest_bytes)
        descriptor = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest_bytes)}
        return descriptor, manifest, manifest_bytes, config_digest


def make_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(name).parent) for name in files if str(Path(name).parent) != "."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = 1_700_000_000
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build_image(
    path: Path,
    layer_specs: list[tuple[int, str]],
    tag: str = "latest",
    architecture: str = "amd64",
) -> OciImage:
    """An OCI layout with one image: one layer per (random-bytes size, compression)."""
    writer = OciLayoutWriter(path)
    layers = []
    for i, (size, compression) in enumerate(layer_specs):
        files = {
            f"layer{i}/data.bin": os.urandom(size),
            f"layer{i}/info.txt": f"layer {i} {architecture} {compression}\n".encode(),
        }
        layers.append(writer.add_layer(files, compression))
    descriptor, manifest, manifest_bytes, config_digest = writer.add_image(layers, architecture)
    writer.tag(descriptor, tag)
    return OciImage(
        path,
        tag,
        descriptor["digest"],
        manifest,
        manifest_bytes,
        config_digest,
        layers,
        architecture,
    )


# --------------------------------------------------------------------------- daemons


def _wait_for_socket(
    path: Path, process: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{_program(process)} exited with {process.returncode}:\n{_file_tail(log)}"
            )
        if path.exists():
            with socket.socket(socket.AF_UNIX) as sock:
                try:
                    sock.connect(str(path))
                    return
                except OSError:
                    pass
        time.sleep(0.2)
    raise RuntimeError(
        f"{_program(process)} did not listen on {path} within {timeout}s:\n{_file_tail(log)}"
    )


def _program(process: subprocess.Popen[bytes]) -> str:
    args = process.args
    first = args[0] if isinstance(args, list | tuple) else args
    return os.fsdecode(first)  # type: ignore[arg-type]


def _file_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _unmount_below(root: Path) -> None:
    """Unmounts anything a daemon left mounted below root (deepest first)."""
    prefix = str(root.resolve()) + "/"
    with open("/proc/self/mounts") as f:
        targets = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, timeout=30, check=False)


@dataclass
class Dockerd:
    cli: str
    env: dict[str, str]
    root: Path
    log: Path

    def docker(
        self, *args: str | Path, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run([self.cli, *args], env=self.env, timeout=timeout, check=check)


@dataclass
class Containerd:
    address: Path
    root: Path
    log: Path
    namespace: str = "artifact-store-tests"

    def ctr(
        self, *args: str | Path, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run(
            [tool("ctr"), "--address", self.address, "--namespace", self.namespace, *args],
            env={"CONTAINERD_SNAPSHOTTER": "native"},
            timeout=timeout,
            check=check,
        )


def containerd_config(root: Path, address: Path) -> str:
    """containerd 1.6 config (version 2): everything below root, no CRI, native snapshotter."""
    disabled = [
        "io.containerd.grpc.v1.cri",
        "io.containerd.snapshotter.v1.aufs",
        "io.containerd.snapshotter.v1.btrfs",
        "io.containerd.snapshotter.v1.devmapper",
        "io.containerd.snapshotter.v1.zfs",
        "io.containerd.snapshotter.v1.overlayfs",
    ]
    return "\n".join(
        [
            "version = 2",
            f'root = "{root}/root"',
            f'state = "{root}/state"',
            f"disabled_plugins = {json.dumps(disabled)}",
            "[grpc]",
            f'  address = "{address}"',
            "[ttrpc]",
            f'  address = "{address}.ttrpc"',
            "[debug]",
            f'  address = "{root}/debug.sock"',
            "[metrics]",
            '  address = ""',
            '[plugins."io.containerd.internal.v1.opt"]',
            f'  path = "{root}/opt"',
            "",
        ]
    )


def tempfile_short(prefix: str) -> str:
    """A fresh directory with a short absolute path (unix sockets live in it)."""
    import tempfile

    return tempfile.mkdtemp(prefix=f"as-{prefix}-", dir="/tmp")


# --------------------------------------------------------------------------- podman


@dataclass
class Podman:
    root: Path

    def __call__(
        self, *args: str | Path, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run(
            [
                tool("podman"),
                "--root", self.root / "storage",
                "--runroot", self.root / "run",
                "--storage-driver", "vfs",
                "--cgroup-manager", "cgroupfs",
                "--events-backend", "file",
                "--tmpdir", self.root / "tmp",
                *args,
            ],
            env={
                "REGISTRY_AUTH_FILE": str(self.root / "auth.json"),
                "TMPDIR": str(self.root / "tmp"),
            },
            timeout=timeout,
            check=check,
        )  # fmt: skip

    def inspect(self, ref: str) -> dict[str, Any]:
        data = json.loads(self("image", "inspect", ref).stdout)
        assert isinstance(data, list) and len(data) == 1, data
        return data[0]  # type: ignore[no-any-return]


def skopeo(
    *args: str | Path, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run([tool("skopeo"), *args], timeout=timeout, check=check)


__all__ = [
    "CI",
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "CommandFailed",
    "Containerd",
    "Dockerd",
    "MultiArchImage",
    "OciImage",
    "Podman",
    "Registry",
    "fetch_manifest",
    "file_digest",
    "http_get",
    "run",
    "run_json",
    "sha256_digest",
    "skopeo",
    "tool",
]
