"""Real clients pulling through the cache: crane and skopeo by the prefix, podman through a
registries.conf mirror, containerd (ctr) through a hosts.toml mirror (`?ns=`). The
upstream is a real artifact-store behind a recorder that counts what the cache asks."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.commands import docker_cli, run, skopeo, tool
from tests.clients.engines import (
    Containerd,
    Podman,
    dockerd_command,
    running_daemon,
    short_temp_dir,
)
from tests.clients.images import OciImage, build_image

from .conftest import CacheStarter
from .servers import PREFIX, Upstream

pytestmark = pytest.mark.clients

MIRRORED = "upstream.test"  # a host name clients are told to pull from, reached only by mirror


@pytest.fixture
def image(tmp_path: Path, upstream: Upstream) -> OciImage:
    """A small image with real tar layers, pushed to the upstream as `app:v1`."""
    built = build_image(tmp_path / "layout", [(20_000, "gzip"), (3000, "gzip")], tag="v1")
    crane("push", built.layout, f"{upstream.server_url.removeprefix('http://')}/app:v1")
    return built


def crane(*args: str | Path, **kwargs: Any) -> Any:
    return run([tool("crane"), "--insecure", *args], **kwargs)


def test_crane_and_skopeo_pull_by_prefix(
    upstream: Upstream, image: OciImage, start_cache_of: CacheStarter, tmp_path: Path
) -> None:
    cache = start_cache_of(upstream)
    ref = f"{cache.host}/{PREFIX}/app:v1"
    crane("pull", "--format", "oci", ref, tmp_path / "crane")
    first = len(upstream.recorder.requests)
    skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{tmp_path / 'skopeo'}:v1")
    assert crane("digest", ref).stdout.strip() == image.manifest_digest
    assert len(upstream.recorder.requests) == first  # the second client: all from the cache
    for layout in (tmp_path / "crane", tmp_path / "skopeo"):
        for layer in image.layers:
            stored = layout / "blobs" / "sha256" / layer.descriptor["digest"].split(":")[1]
            assert (
                stored.read_bytes()
                == (image.layout / "blobs" / "sha256" / stored.name).read_bytes()
            )


def test_gc_keeps_what_was_pulled_through_the_cache(
    upstream: Upstream, image: OciImage, start_cache_of: CacheStarter, tmp_path: Path
) -> None:
    """The cache stores a manifest before its blobs (manifest_refs without them): gc with no
    grace at all, with and without the configuration file, leaves the pulled image whole,
    served with the upstream gone."""
    cache = start_cache_of(upstream)
    ref = f"{cache.host}/{PREFIX}/app:v1"
    crane("pull", "--format", "oci", ref, tmp_path / "first")
    assert cache.data_dir is not None
    gc: list[str | Path] = [Path(sys.executable).parent / "artifact-store", "gc", "--json"]
    gc += ["--data-dir", cache.data_dir, "--grace", "0s", "--delete-untagged"]
    config: list[str | Path] = ["--config", cache.data_dir.parent / "config.toml"]
    for options in (config, []):
        report = json.loads(run([*gc, *options]).stdout)
        assert (report["blobs"], report["manifests"], report["links"]) == ([], [], 0)
    upstream.stop()
    crane("pull", "--format", "oci", ref, tmp_path / "again")
    assert crane("digest", ref).stdout.strip() == image.manifest_digest
    for blob in [image.config_digest, *(layer.descriptor["digest"] for layer in image.layers)]:
        name = blob.split(":")[1]
        pulled = tmp_path / "again" / "blobs" / "sha256" / name
        assert pulled.read_bytes() == (image.layout / "blobs" / "sha256" / name).read_bytes()


def test_gc_collects_what_was_not_pulled_within_proxy_keep(
    upstream: Upstream, image: OciImage, start_cache_of: CacheStarter, tmp_path: Path
) -> None:
    """With proxy_keep = 0s no pull is recent: gc removes the cached image whole, and the
    next pull fetches it from the upstream again."""
    cache = start_cache_of(upstream)
    ref = f"{cache.host}/{PREFIX}/app:v1"
    crane("pull", "--format", "oci", ref, tmp_path / "first")
    assert cache.data_dir is not None
    gc: list[str | Path] = [Path(sys.executable).parent / "artifact-store", "gc", "--json"]
    gc += ["--data-dir", cache.data_dir, "--grace", "0s"]
    gc += ["--config", cache.data_dir.parent / "config.toml"]
    report = json.loads(run(gc, env={"ARTIFACT_STORE_PROXY_KEEP": "0s"}).stdout)
    digests = [image.config_digest, *(layer.descriptor["digest"] for layer in image.layers)]
    assert report["manifests"] == [f"{PREFIX}/app@{image.manifest_digest}"]
    assert sorted(report["blobs"]) == sorted([*digests, image.manifest_digest])
    fetched = upstream.gets(r"/blobs/")
    crane("pull", "--format", "oci", ref, tmp_path / "again")
    assert upstream.gets(r"/blobs/") == fetched + len(digests)
    for blob in digests:
        name = blob.split(":")[1]
        pulled = tmp_path / "again" / "blobs" / "sha256" / name
        assert pulled.read_bytes() == (image.layout / "blobs" / "sha256" / name).read_bytes()


def registries_conf(path: Path, mirror: str) -> Path:
    path.write_text(
        f'[[registry]]\nprefix = "{MIRRORED}"\nlocation = "{MIRRORED}"\n'
        f'[[registry.mirror]]\nlocation = "{mirror}"\ninsecure = true\n'
    )
    return path


def podman_mirrored(podman: Podman, conf: Path, *args: str) -> Any:
    root = podman.root
    return run(
        [
            tool("podman"),
            "--root", root / "storage",
            "--runroot", root / "run",
            "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
            "--tmpdir", root / "tmp",
            *args,
        ],
        env={"CONTAINERS_REGISTRIES_CONF": str(conf), "TMPDIR": str(root / "tmp")},
        timeout=600,
    )  # fmt: skip


def test_podman_pulls_through_a_registries_conf_mirror(
    upstream: Upstream,
    image: OciImage,
    start_cache_of: CacheStarter,
    podman: Podman,
    tmp_path: Path,
) -> None:
    cache = start_cache_of(upstream)
    conf = registries_conf(tmp_path / "registries.conf", f"{cache.host}/{PREFIX}")
    ref = f"{MIRRORED}/app:v1"
    podman_mirrored(podman, conf, "pull", ref)
    first = len(upstream.recorder.requests)
    podman_mirrored(podman, conf, "rmi", ref)
    podman_mirrored(podman, conf, "pull", ref)
    assert len(upstream.recorder.requests) == first  # the second pull stays in the cache
    upstream.stop()
    podman_mirrored(podman, conf, "rmi", ref)
    podman_mirrored(podman, conf, "pull", ref)  # upstream gone: whole from the cache
    inspected = json.loads(podman_mirrored(podman, conf, "image", "inspect", ref).stdout)
    assert len(inspected[0]["RootFS"]["Layers"]) == len(image.layers)
    podman_mirrored(podman, conf, "rmi", ref)


def hosts_dir(path: Path, mirror: str) -> Path:
    host = path / MIRRORED
    host.mkdir(parents=True)
    (host / "hosts.toml").write_text(
        f'server = "http://{MIRRORED}:1"\n\n'
        f'[host."http://{mirror}"]\n  capabilities = ["pull", "resolve"]\n'
    )
    return path


def test_containerd_pulls_through_a_hosts_toml_mirror(
    upstream: Upstream,
    image: OciImage,
    start_cache_of: CacheStarter,
    containerd: Containerd,
    tmp_path: Path,
) -> None:
    cache = start_cache_of(upstream, namespaces=[MIRRORED])
    hosts = hosts_dir(tmp_path / "certs.d", cache.host)
    ref = f"{MIRRORED}/app:v1"
    containerd.ctr("images", "pull", "--hosts-dir", hosts, ref)
    first = len(upstream.recorder.requests)
    assert first >= 1 + len(image.layers)
    containerd.ctr("images", "rm", "--sync", ref)
    containerd.ctr("images", "pull", "--hosts-dir", hosts, ref)
    assert len(upstream.recorder.requests) == first
    upstream.stop()
    containerd.ctr("images", "rm", "--sync", ref)
    containerd.ctr("images", "pull", "--hosts-dir", hosts, ref)  # whole from the cache
    listed = containerd.ctr("images", "ls", "--quiet").stdout.split()
    assert ref in listed
    containerd.ctr("images", "rm", "--sync", ref)


def test_docker_pulls_through_registry_mirrors(
    upstream: Upstream, image: OciImage, start_cache_of: CacheStarter
) -> None:
    """Docker asks its mirror for Docker Hub names without prefix or ns: the default
    upstream answers them."""
    crane("copy", f"{upstream.server_url.removeprefix('http://')}/app:v1",
          f"{upstream.server_url.removeprefix('http://')}/library/app:v1")  # fmt: skip
    cache = start_cache_of(upstream, default=True)
    with private_dockerd(cache.host) as docker:
        docker("pull", "app:v1")
        first = len(upstream.recorder.requests)
        docker("rmi", "app:v1")
        docker("pull", "app:v1")
        assert len(upstream.recorder.requests) == first
        upstream.stop()
        docker("rmi", "app:v1")
        docker("pull", "app:v1")  # whole from the cache
        layers = json.loads(docker("image", "inspect", "app:v1").stdout)[0]["RootFS"]["Layers"]
    assert len(layers) == len(image.layers)


@contextlib.contextmanager
def private_dockerd(mirror: str) -> Iterator[Callable[..., Any]]:
    """A dockerd of its own whose registry mirror (plain HTTP) is `mirror`."""
    binary = shutil.which("dockerd") or tool("dockerd")
    cli = docker_cli()
    root = short_temp_dir("dockerd-mirror")
    sock = root / "docker.sock"
    (root / "config").mkdir()
    (root / "daemon.json").write_text(json.dumps({"registry-mirrors": [f"http://{mirror}"]}))
    command = dockerd_command(binary, root, sock, mirror)
    with running_daemon("dockerd", command, sock, root):
        env = {"DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(root / "config")}

        def docker(*args: str) -> Any:
            return run([cli, *args], env=env, timeout=600)

        yield docker
