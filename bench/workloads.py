"""The workloads of docs/benchmarks.md, one function each.

A workload prepares what it needs untimed (new content, a fresh repository
name), times only the transfer inside `target.probe.measure()`, checks every
answer, and returns its figures. `prepare` functions run once per server
before the warm-up and leave what later rounds read (a blob to pull, tags).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import clients
from bench.clients import OCTETS, WorkloadError, expect, start_upload, with_digest
from bench.content import (
    OCI_MANIFEST,
    RenewableBlob,
    config_blob,
    image_manifest,
    sha256,
    write_oci_layout,
)
from bench.probe import Probe
from bench.servers import RunningServer

Figures = dict[str, float]


@dataclass(frozen=True)
class Sizes:
    big_blob: int = 1 << 30
    chunked_blob: int = 256 << 20
    chunk: int = 16 << 20
    small_blob: int = 4 << 10
    small_blobs: int = 2000
    small_clients: int = 16
    connections: int = 32
    seconds: int = 10
    warmup_seconds: int = 3
    tags: int = 500
    image_layers: int = 12
    layer_size: int = 24 << 20
    fanout_blob: int = 100 << 20
    fanout_clients: int = 16


FULL = Sizes()
SMOKE = Sizes(
    big_blob=4 << 20,
    chunked_blob=4 << 20,
    chunk=1 << 20,
    small_blobs=40,
    small_clients=4,
    connections=4,
    seconds=1,
    warmup_seconds=1,
    tags=10,
    image_layers=3,
    layer_size=64 << 10,
    fanout_blob=2 << 20,
    fanout_clients=4,
)


@dataclass
class Shared:
    """Content made once per run and used against every server."""

    work: Path
    big: RenewableBlob
    chunked: RenewableBlob
    fanout: RenewableBlob
    get_script: Path
    tags_script: Path

    @classmethod
    def create(cls, work: Path, sizes: Sizes) -> Shared:
        script = clients.write_wrk_script
        return cls(
            work,
            RenewableBlob(work / "big.bin", sizes.big_blob),
            RenewableBlob(work / "chunked.bin", sizes.chunked_blob),
            RenewableBlob(work / "fanout.bin", sizes.fanout_blob),
            script(work / "get.lua", "GET", OCI_MANIFEST),
            script(work / "tags.lua", "GET", "application/json"),
        )


@dataclass
class Target:
    """One server as the workloads see it in one round."""

    server: RunningServer
    sizes: Sizes
    shared: Shared
    probe: Probe
    http: httpx.Client
    state: dict[str, Any] = field(default_factory=dict)
    round: int = 0

    @property
    def warmup(self) -> bool:
        return self.round == 0

    def repo(self, workload: str) -> str:
        return f"bench/{workload}/r{self.round}"

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    def forget_blob(self, repo: str, digest: str) -> None:
        """Untimed cleanup so the in-memory peer does not hold every round's blobs."""
        self.http.delete(f"/v2/{repo}/blobs/{digest}")


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    target: float | None = None  # ratio artifact-store must reach against distribution 2.8.2
    limit: float | None = None  # an absolute ceiling for artifact-store


@dataclass(frozen=True)
class Workload:
    name: str
    run: Callable[[Target], Figures]
    metrics: tuple[Metric, ...]
    prepare: Callable[[Target], None] | None = None


# --- streams ------------------------------------------------------------------------------


def push_1g(target: Target) -> Figures:
    blob = target.shared.big
    digest, repo = blob.renew(), target.repo("push-1g")
    with target.probe.measure() as spent:
        location = start_upload(target.http, repo)
        clients.curl_put_file(with_digest(location, digest), blob.path)
    target.forget_blob(repo, digest)
    return {"MB/s": blob.size / spent.wall_s / 1e6, "peak RSS MiB": spent.peak_rss_mib}


def prepare_pull(target: Target) -> None:
    blob = target.shared.big
    target.state["pull"] = _push_file(target, "bench/pull", blob)


def pull_1g(target: Target) -> Figures:
    size = target.shared.big.size
    url = target.url(f"/v2/bench/pull/blobs/{target.state['pull']}")
    with target.probe.measure() as spent:
        clients.curl_get(url, size)
    return {"MB/s": size / spent.wall_s / 1e6}


def push_chunked(target: Target) -> Figures:
    blob, chunk = target.shared.chunked, target.sizes.chunk
    digest, repo = blob.renew(), target.repo("push-chunked")
    with target.probe.measure() as spent:
        location = start_upload(target.http, repo)
        for start in range(0, blob.size, chunk):
            length = min(chunk, blob.size - start)
            location = _patch(target.http, location, blob.path, start, length)
        expect(target.http.put(with_digest(location, digest)), 201)
    target.forget_blob(repo, digest)
    return {"MB/s": blob.size / spent.wall_s / 1e6}


def _patch(http: httpx.Client, location: str, path: Path, start: int, length: int) -> str:
    headers = {
        **OCTETS,
        "Content-Range": f"{start}-{start + length - 1}",
        "Content-Length": str(length),
    }
    content = clients.file_pieces(path, start, length)
    response = expect(http.patch(location, content=content, headers=headers), 202)
    return str(http.base_url.join(response.headers["location"]))


def prepare_fan_out(target: Target) -> None:
    target.state["fan-out"] = _push_file(target, "bench/fan-out", target.shared.fanout)


def fan_out(target: Target) -> Figures:
    size, count = target.shared.fanout.size, target.sizes.fanout_clients
    url = target.url(f"/v2/bench/fan-out/blobs/{target.state['fan-out']}")
    with target.probe.measure() as spent:
        clients.curl_get_many(url, size, count)
    return {"MB/s": size * count / spent.wall_s / 1e6, "peak RSS MiB": spent.peak_rss_mib}


def _push_file(target: Target, repo: str, blob: RenewableBlob) -> str:
    digest = blob.renew()
    clients.curl_put_file(with_digest(start_upload(target.http, repo), digest), blob.path)
    return digest


# --- many small requests ------------------------------------------------------------------


def small_blobs(target: Target) -> Figures:
    sizes = target.sizes
    blobs = [os.urandom(sizes.small_blob) for _ in range(sizes.small_blobs)]
    blobs_and_digests = [(data, sha256(data)) for data in blobs]
    repo = target.repo("small-blobs")
    with target.probe.measure() as spent:
        run_async(
            _push_concurrently(target.server.url, repo, blobs_and_digests, sizes.small_clients)
        )
    return {"blobs/s": len(blobs) / spent.wall_s}


async def _push_concurrently(
    url: str, repo: str, blobs: list[tuple[bytes, str]], clients: int
) -> None:
    # One client with one connection each: a shared httpx pool spends more CPU scanning its
    # connections than sending, and the client shares the cores with the server.
    pending = iter(blobs)

    async def client() -> None:
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:
            for data, digest in pending:  # one shared iterator: each blob goes to one client
                response = expect(await http.post(f"/v2/{repo}/blobs/uploads/"), 202)
                location = with_digest(response.headers["location"], digest)
                expect(await http.put(location, content=data, headers=OCTETS), 201)

    await asyncio.gather(*(client() for _ in range(clients)))


def run_async(coroutine: Coroutine[Any, Any, None]) -> None:
    """uvloop where installed (it is a dependency of the server): less client CPU."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


def prepare_manifests(target: Target) -> None:
    """One small image, tagged `latest` in bench/manifests and N times in bench/tags."""
    if "manifest" in target.state:
        return  # shared by the three manifest workloads
    layer = os.urandom(1024)
    config = config_blob([sha256(layer)])
    manifest = image_manifest(config, [layer])
    for repo in ("bench/manifests", "bench/tags"):
        for blob in (layer, config):
            clients.push_bytes(target.http, repo, blob, sha256(blob))
    clients.put_manifest(target.http, "bench/manifests", "latest", manifest)
    for number in range(target.sizes.tags):
        clients.put_manifest(target.http, "bench/tags", f"t{number:04d}", manifest)
    listed = expect(target.http.get("/v2/bench/tags/tags/list"), 200).json()["tags"]
    if len(listed) != target.sizes.tags:
        raise WorkloadError(f"tags/list gave {len(listed)} of {target.sizes.tags} tags")
    target.state["manifest"] = sha256(manifest)


def _figures(result: clients.RateResult) -> Figures:
    return {"req/s": result.requests_per_s, "p50 ms": result.p50_ms, "p99 ms": result.p99_ms}


def _seconds(target: Target) -> int:
    return target.sizes.warmup_seconds if target.warmup else target.sizes.seconds


def _wrk(target: Target, path: str, script: Path) -> Figures:
    with target.probe.measure():
        result = clients.wrk(target.url(path), script, target.sizes.connections, _seconds(target))
    return _figures(result)


def manifest_get(target: Target) -> Figures:
    return _wrk(target, "/v2/bench/manifests/manifests/latest", target.shared.get_script)


def manifest_head(target: Target) -> Figures:
    url = target.url(f"/v2/bench/manifests/manifests/{target.state['manifest']}")
    connections = target.sizes.connections
    with target.probe.measure():
        result = clients.oha(url, "HEAD", OCI_MANIFEST, connections, _seconds(target))
    return _figures(result)


def tags_list(target: Target) -> Figures:
    return _wrk(target, "/v2/bench/tags/tags/list", target.shared.tags_script)


# --- a real client ------------------------------------------------------------------------


def image_copy(target: Target) -> Figures:
    sizes, work = target.sizes, target.shared.work
    layout, out = work / f"image-{target.server.key}", work / f"image-{target.server.key}-out"
    write_oci_layout(layout, sizes.image_layers, sizes.layer_size, "bench")
    remote = f"docker://{target.server.host}/{target.repo('image-copy')}:bench"
    try:
        with target.probe.measure() as spent:
            clients.skopeo_copy(f"oci:{layout}:bench", remote)
            pushed = spent.elapsed()
            clients.skopeo_copy(remote, f"dir:{out}")
    finally:
        shutil.rmtree(layout, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    return {"s": spent.wall_s, "in s": pushed, "out s": spent.wall_s - pushed}


WORKLOADS = (
    Workload(
        "push-1g",
        push_1g,
        (Metric("MB/s", True, target=2.0), Metric("peak RSS MiB", False, limit=200)),
    ),
    Workload("push-chunked", push_chunked, (Metric("MB/s", True, target=2.0),)),
    Workload("pull-1g", pull_1g, (Metric("MB/s", True, target=1.0),), prepare_pull),
    Workload(
        "fan-out",
        fan_out,
        (Metric("MB/s", True, target=1.0), Metric("peak RSS MiB", False, limit=200)),
        prepare_fan_out,
    ),
    Workload("small-blobs", small_blobs, (Metric("blobs/s", True, target=1.0),)),
    Workload(
        "manifest-get",
        manifest_get,
        (
            Metric("req/s", True, target=1.5),
            Metric("p50 ms", False),
            Metric("p99 ms", False, target=1.0),
        ),
        prepare_manifests,
    ),
    Workload(
        "manifest-head",
        manifest_head,
        (
            Metric("req/s", True, target=1.5),
            Metric("p50 ms", False),
            Metric("p99 ms", False, target=1.0),
        ),
        prepare_manifests,
    ),
    Workload(
        "tags-list",
        tags_list,
        (Metric("req/s", True, target=1.5), Metric("p99 ms", False)),
        prepare_manifests,
    ),
    Workload(
        "image-copy",
        image_copy,
        (Metric("s", False, target=1.0), Metric("in s", False), Metric("out s", False)),
    ),
)
