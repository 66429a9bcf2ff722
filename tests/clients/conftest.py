"""Fixtures for the client compatibility tests: real OCI clients against a live registry.

The tools come from `make clients` (scripts/setup-clients.sh): Go tools in
$TOOLS_DIR/bin, the rest from Debian. A missing tool skips its test, or fails it
under CI=true. Beside the fixtures, by topic: commands.py (finding and running the
tools), live_registry.py (the registry as clients address it), listings.py (its
catalog and tags lists), proxy.py (the recording proxy), images.py (OCI layouts to
push), engines.py (dockerd, containerd, podman), charts.py (Helm) and auth_server.py
(a registry under Basic or token auth).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import live_registry
from .commands import docker_cli, run, tool
from .engines import (
    Containerd,
    Dockerd,
    Podman,
    containerd_config,
    dockerd_command,
    remove_engine_root,
    running_daemon,
    short_temp_dir,
)
from .images import (
    BIG_LAYER_SIZE,
    OCI_INDEX,
    MultiArchImage,
    OciImage,
    OciLayoutWriter,
    build_image,
    make_tar,
)
from .live_registry import Registry
from .proxy import RecordingProxy

LiveServer = Any  # tests/conftest.py's LiveServer (host, data_dir, url)


def _recorded(live_server: LiveServer, request: pytest.FixtureRequest) -> Iterator[Registry]:
    with RecordingProxy(live_server.host) as proxy:
        live_registry.current_registry = Registry(live_server, proxy.host, proxy)
        try:
            yield live_registry.current_registry
        finally:
            live_registry.current_registry = None
            log = os.environ.get("ARTIFACT_STORE_CLIENTS_REQUEST_LOG")
            if log:
                with open(log, "a") as f:
                    f.write(f"## {request.node.nodeid}\n")
                    f.writelines(f"{r}\n" for r in proxy.requests)


@pytest.fixture
def registry(live_server: LiveServer, request: pytest.FixtureRequest) -> Iterator[Registry]:
    """The live registry. ARTIFACT_STORE_CLIENTS_RECORD=1 routes every client through a
    recording proxy, so a failure lists the HTTP requests that failed (and
    ARTIFACT_STORE_CLIENTS_REQUEST_LOG=FILE appends every request each test made to FILE)."""
    if os.environ.get("ARTIFACT_STORE_CLIENTS_RECORD") == "1":
        yield from _recorded(live_server, request)
        return
    live_registry.current_registry = Registry(live_server, live_server.host)
    try:
        yield live_registry.current_registry
    finally:
        live_registry.current_registry = None


@pytest.fixture
def recorded_registry(
    live_server: LiveServer, request: pytest.FixtureRequest
) -> Iterator[Registry]:
    """The live registry behind a recording proxy: tests assert on the requests clients made."""
    yield from _recorded(live_server, request)


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> Any:
    """Factory of unique repository names: clients/<module>/<test>-<suffix>-<random>."""
    module = request.node.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    test = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]

    def make(suffix: str = "") -> str:
        parts = [test, suffix, uuid.uuid4().hex[:8]]
        name = "-".join(p for p in parts if p)
        return f"clients/{module.replace('_', '-')}/{name}"

    return make


@pytest.fixture(scope="session")
def big_oci_image(tmp_path_factory: pytest.TempPathFactory) -> OciImage:
    """12 layers, gzip and zstd, one of them just over 64 MiB (random bytes, so incompressible)."""
    specs = [(BIG_LAYER_SIZE, "gzip")]
    specs += [(4096 * (i + 1) ** 2, "zstd" if i % 2 == 0 else "gzip") for i in range(11)]
    return build_image(tmp_path_factory.mktemp("big-oci"), specs, tag="v1")


@pytest.fixture(scope="session")
def small_oci_image(tmp_path_factory: pytest.TempPathFactory) -> OciImage:
    """Three small gzip layers: what every engine can pull (and convert to Docker schema2)."""
    return build_image(
        tmp_path_factory.mktemp("small-oci"), [(20_000, "gzip"), (50_000, "gzip"), (3000, "gzip")]
    )


@pytest.fixture(scope="session")
def multiarch_image(tmp_path_factory: pytest.TempPathFactory) -> MultiArchImage:
    """An OCI index with a linux/amd64 and a linux/arm64 image, each of two gzip layers."""
    path = tmp_path_factory.mktemp("multiarch")
    writer = OciLayoutWriter(path)
    images: dict[str, OciImage] = {}
    descriptors = []
    for arch in ("amd64", "arm64"):
        layers = [
            writer.add_layer(
                {f"{arch}/bin.dat": os.urandom(30_000), f"{arch}/arch": arch.encode()}, "gzip"
            ),
            writer.add_layer({f"{arch}/etc.dat": os.urandom(5_000)}, "gzip"),
        ]
        descriptor, manifest, manifest_bytes, config_digest = writer.add_image(layers, arch)
        images[arch] = OciImage(
            path, "", descriptor["digest"], manifest, manifest_bytes, config_digest, layers, arch
        )
        descriptors.append({**descriptor, "platform": {"architecture": arch, "os": "linux"}})
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    index_bytes = json.dumps(index, indent=2).encode()
    index_digest = writer.add_blob(index_bytes)
    writer.tag({"mediaType": OCI_INDEX, "digest": index_digest, "size": len(index_bytes)}, "multi")
    return MultiArchImage(path, "multi", index_digest, index, index_bytes, images)


@pytest.fixture(scope="session")
def rootfs_tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uncompressed root filesystem tarball, for `podman import` / `docker import`."""
    path = tmp_path_factory.mktemp("rootfs") / "rootfs.tar"
    path.write_bytes(
        make_tar(
            {
                "etc/hostname": b"artifact-store\n",
                "opt/data.bin": os.urandom(100_000),
                "bin/.keep": b"",
            }
        )
    )
    return path


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory, live_server: LiveServer) -> Iterator[Dockerd]:
    """A private dockerd (Debian docker.io): own data-root, exec-root, socket and pidfile; vfs;
    no iptables and no bridge. 127.0.0.0/8 is an insecure (plain-HTTP) registry range by
    default; the live server is also named with --insecure-registry."""
    binary = shutil.which("dockerd") or tool("dockerd")
    cli = docker_cli()
    root = short_temp_dir("dockerd")
    sock = root / "docker.sock"
    (root / "config").mkdir()
    (root / "daemon.json").write_text("{}")
    command = dockerd_command(binary, root, sock, live_server.host)
    with running_daemon("dockerd", command, sock, root) as log:
        env = {"DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(root / "config")}
        daemon = Dockerd(cli, env, root, log)
        run([cli, "version"], env=env, timeout=60)
        yield daemon


@pytest.fixture(scope="session")
def containerd() -> Iterator[Containerd]:
    """A private containerd (Debian): own root, state, sockets and config; native snapshotter."""
    binary = tool("containerd")
    tool("ctr")
    root = short_temp_dir("containerd")
    address = root / "containerd.sock"
    config = root / "config.toml"
    config.write_text(containerd_config(root, address))
    command = [binary, "--config", str(config), "--log-level", "info"]
    with running_daemon("containerd", command, address, root) as log:
        yield Containerd(address, root, log)


@pytest.fixture(scope="session")
def podman() -> Iterator[Podman]:
    """podman as root on its own vfs storage (no effect on the machine's containers)."""
    tool("podman")
    root = short_temp_dir("podman")
    (root / "tmp").mkdir()
    (root / "auth.json").write_text("{}")
    yield Podman(root)
    remove_engine_root(root)
