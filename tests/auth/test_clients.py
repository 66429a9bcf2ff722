"""oras, crane, skopeo and podman sign in, push and pull over TLS (a CA made here, handed to
each client, never installed system-wide), under Basic auth and under token auth."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers import (
    PASSWORDS,
    POLICY_TOML,
    Certificates,
    SecureServer,
    exit_status,
    make_certificates,
    run,
    start,
    tool,
    write_htpasswd,
    write_settings,
)

pytestmark = pytest.mark.clients
USER, PASSWORD = "alice", PASSWORDS["alice"]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class Secured:
    server: SecureServer
    certificates: Certificates
    cert_dir: Path  # ca.crt, the containers-image way

    @property
    def host(self) -> str:
        return self.server.host


@pytest.fixture(scope="module", params=["basic", "token"])
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Secured]:
    directory = tmp_path_factory.mktemp(f"clients-{request.param}")
    certificates = make_certificates(directory / "tls")
    htpasswd = write_htpasswd(directory / "htpasswd", PASSWORDS)
    settings = write_settings(
        directory, POLICY_TOML, auth=request.param, auth_htpasswd=str(htpasswd)
    )
    server = start(directory / "data", settings, certificates=certificates)
    try:
        yield Secured(server, certificates, certificates.ca_file.parent)
    finally:
        server.stop()


def repository(tool_name: str) -> str:
    return f"clients/{tool_name}-{uuid.uuid4().hex[:8]}"


def test_oras(secured: Secured, tmp_path: Path) -> None:
    oras = tool("oras")
    common = [
        "--registry-config",
        str(tmp_path / "auth.json"),
        "--ca-file",
        str(secured.certificates.ca_file),
    ]
    denied = exit_status(
        [oras, "login", secured.host, "-u", USER, "--password-stdin", *common], "wrong"
    )
    assert denied != 0
    run([oras, "login", secured.host, "-u", USER, "--password-stdin", *common], input=PASSWORD)
    artifact = tmp_path / "artifact.txt"
    artifact.write_bytes(uuid.uuid4().bytes * 1000)
    target = f"{secured.host}/{repository('oras')}:v1"
    run([oras, "push", target, "artifact.txt", *common], cwd=tmp_path)
    run([oras, "pull", target, "-o", str(tmp_path / "out"), *common])
    assert (tmp_path / "out" / "artifact.txt").read_bytes() == artifact.read_bytes()


def test_crane(secured: Secured, tmp_path: Path) -> None:
    crane = tool("crane")
    env = {
        "DOCKER_CONFIG": str(tmp_path / "docker"),
        "SSL_CERT_FILE": str(secured.certificates.ca_file),
    }
    run(
        [crane, "auth", "login", secured.host, "-u", USER, "--password-stdin"],
        env=env,
        input=PASSWORD,
    )
    layer = tmp_path / "layer.tar"
    content = uuid.uuid4().hex.encode()
    write_tar(layer, {"hello.txt": content})
    target = f"{secured.host}/{repository('crane')}:v1"
    run([crane, "append", "-f", str(layer), "-t", target], env=env)
    run([crane, "export", target, str(tmp_path / "fs.tar")], env=env)
    with tarfile.open(tmp_path / "fs.tar") as fs:
        extracted = fs.extractfile("hello.txt")
        assert extracted is not None and extracted.read() == content


def test_skopeo(secured: Secured, tmp_path: Path) -> None:
    skopeo = tool("skopeo")
    auth = ["--authfile", str(tmp_path / "auth.json")]
    layout = write_oci_layout(tmp_path / "layout", "v1")
    run(
        [
            skopeo,
            "login",
            *auth,
            "--cert-dir",
            str(secured.cert_dir),
            "-u",
            USER,
            "--password-stdin",
            secured.host,
        ],
        input=PASSWORD,
    )
    target = f"docker://{secured.host}/{repository('skopeo')}:v1"
    run(
        [
            skopeo,
            "copy",
            *auth,
            "--dest-cert-dir",
            str(secured.cert_dir),
            f"oci:{layout}:v1",
            target,
        ]
    )
    run(
        [
            skopeo,
            "copy",
            *auth,
            "--src-cert-dir",
            str(secured.cert_dir),
            target,
            f"oci:{tmp_path / 'back'}:v1",
        ]
    )
    assert manifest_of(tmp_path / "back") == manifest_of(layout)
    # --creds instead of a login
    creds = ["--creds", f"{USER}:{PASSWORD}", "--cert-dir", str(secured.cert_dir)]
    inspected = json.loads(run([skopeo, "inspect", "--raw", *creds, target]).stdout)
    assert inspected == json.loads(manifest_of(layout))
    wrong = ["--creds", f"{USER}:wrong", "--cert-dir", str(secured.cert_dir)]
    assert exit_status([skopeo, "inspect", "--raw", *wrong, target]) != 0


@pytest.fixture
def podman_run() -> Iterator[Path]:
    """A short run root: podman refuses one longer than 50 characters."""
    with tempfile.TemporaryDirectory(prefix="podman-", dir="/tmp") as run_root:
        yield Path(run_root)


def test_podman(secured: Secured, tmp_path: Path, podman_run: Path) -> None:
    podman = [
        tool("podman"),
        "--root", str(tmp_path / "storage"),
        "--runroot", str(podman_run),
        "--storage-driver", "vfs",
        "--cgroup-manager", "cgroupfs",
        "--events-backend", "file",
    ]  # fmt: skip
    env = {"REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"), "TMPDIR": str(tmp_path)}
    certs = ["--cert-dir", str(secured.cert_dir)]
    layout = write_oci_layout(tmp_path / "layout", "v1")
    run(
        [*podman, "login", *certs, "-u", USER, "--password-stdin", secured.host],
        env=env,
        input=PASSWORD,
    )
    run([*podman, "pull", f"oci:{layout}:v1"], env=env)
    target = f"{secured.host}/{repository('podman')}:v1"
    image_id = run([*podman, "images", "-q"], env=env).stdout.split()[0]
    run([*podman, "push", *certs, image_id, f"docker://{target}"], env=env)
    run([*podman, "rmi", "-a", "-f"], env=env)
    run([*podman, "pull", *certs, target], env=env)
    assert (
        target in run([*podman, "images", "--format", "{{.Repository}}:{{.Tag}}"], env=env).stdout
    )


# --------------------------------------------------------------------------- helpers


def write_tar(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))


def write_oci_layout(directory: Path, tag: str) -> Path:
    """A one-layer linux/amd64 image in an OCI image layout."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes, media_type: str) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = uuid.uuid4().hex.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    layer = put(
        gzip.compress(raw.getvalue(), mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
    )
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "config": {},
    }
    config_descriptor = put(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_descriptor,
        "layers": [layer],
    }
    descriptor = put(json.dumps(manifest).encode(), OCI_MANIFEST)
    descriptor["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (directory / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "manifests": [descriptor]})
    )
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return directory


def manifest_of(layout: Path) -> str:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    text: str = (layout / "blobs" / "sha256" / digest).read_text()
    return text
