"""Worker processes on both HTTP servers, as real processes: the address bound once, one
migration, a crashed worker replaced, every worker stopped by SIGTERM, HTTP/2 in
clear text and over TLS, and an upload session written to through two workers."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Thread

import httpx
import pytest

from tests.auth.helpers import make_certificates
from tests.auth.helpers import start as start_tls
from tests.conftest import LiveServer, start_server, stop_server
from tests.scaleout.postgres import PostgresServer

SERVERS = ["granian", "hypercorn"]
CLIENT_TIMEOUT = 20.0
IN_USE_FIX = "another process listens on it; stop that process, or set addr to a free port"
EXE = str(Path(sys.executable).parent / "artifact-store")


def serve(data_dir: Path, server: str, workers: int) -> LiveServer:
    return start_server(data_dir, "--server", server, "--workers", str(workers))


@pytest.fixture(params=SERVERS)
def two_workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    server = serve(tmp_path / "data", request.param, 2)
    wait_for(lambda: len(workers_of(server)) == 2)
    yield server
    stop_server(server)


def workers_of(server: LiveServer) -> list[int]:
    """The pids of the server process's children: its workers."""
    assert server.process is not None
    pid = server.process.pid
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return sorted(found)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.1)


def push(url: str, repo: str, data: bytes, client: httpx.Client | None = None) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    response = (client or httpx).post(
        f"{url}/v2/{repo}/blobs/uploads/?digest={digest}", content=data
    )
    assert response.status_code == 201, response.text
    return digest


@pytest.mark.parametrize("server", SERVERS)
def test_an_address_in_use_is_one_line_and_status_1(server: str, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        addr = f"127.0.0.1:{taken.getsockname()[1]}"
        argv = [EXE, "serve", "--addr", addr, "--data-dir", str(tmp_path / "data")]
        done = subprocess.run(
            [*argv, "--server", server, "--workers", "2"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if "address already in use" in line]
    assert errors == [f"artifact-store: addr {addr}: address already in use: {IN_USE_FIX}"]
    assert "Traceback" not in done.stderr


def test_a_second_registry_cannot_share_the_port_of_a_running_one(
    two_workers: LiveServer, tmp_path: Path
) -> None:
    """granian's workers bind with SO_REUSEPORT; the parent's check binds without it."""
    for server in SERVERS:
        argv = [EXE, "serve", "--addr", two_workers.host, "--data-dir", str(tmp_path / server)]
        done = subprocess.run([*argv, "--server", server], capture_output=True, timeout=60)
        assert done.returncode == 1, done.stderr


def test_migrations_run_once_before_the_workers_start(tmp_path: Path) -> None:
    server = serve(tmp_path / "data", "granian", 3)
    stop_server(server)
    log = (tmp_path / "data.log").read_text()
    assert log.count("Running upgrade  -> 0001") == 1
    assert log.index("Running upgrade") < log.index("Spawning worker-1")


def test_one_hypercorn_worker_is_the_server_process_itself(tmp_path: Path) -> None:
    server = serve(tmp_path / "data", "hypercorn", 1)
    try:
        assert workers_of(server) == []
        assert httpx.get(f"{server.url}/v2/").status_code == 200
    finally:
        stop_server(server)


def test_a_worker_that_dies_is_replaced(two_workers: LiveServer) -> None:
    first = workers_of(two_workers)
    os.kill(first[0], signal.SIGKILL)
    wait_for(lambda: len(workers_of(two_workers)) == 2 and first[0] not in workers_of(two_workers))
    assert first[1] in workers_of(two_workers)
    with httpx.Client() as client:  # new connections, whichever worker they reach
        for number in range(10):
            push(two_workers.url, "replaced/repo", b"after the crash %d" % number, client)


def test_sigterm_stops_every_worker_after_its_requests(two_workers: LiveServer) -> None:
    assert two_workers.process is not None
    workers = workers_of(two_workers)
    data = os.urandom(2_000_000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    sent_first = []

    def body() -> Iterator[bytes]:
        yield data[:1_000_000]
        sent_first.append(True)
        time.sleep(1)
        yield data[1_000_000:]

    with httpx.Client(timeout=30) as client:
        location = client.post(f"{two_workers.url}/v2/stopping/blobs/uploads/").headers["Location"]
        request = client.build_request(
            "PUT",
            f"{two_workers.url}{location}?digest={digest}",
            content=body(),
            headers={"Content-Length": str(len(data))},
        )
        stopper = _after(lambda: bool(sent_first), two_workers.process.send_signal, signal.SIGTERM)
        response = client.send(request)
        stopper.join()
    assert response.status_code == 201, response.text
    assert two_workers.process.wait(timeout=30) == 0
    assert not [pid for pid in workers if alive(pid)]


def _after(condition: Callable[[], bool], action: Callable[[int], None], arg: int) -> Thread:
    def run() -> None:
        wait_for(condition)
        action(arg)

    thread = Thread(target=run)
    thread.start()
    return thread


def test_workers_do_not_outlive_the_first_process(two_workers: LiveServer) -> None:
    """Killed outright, as when its machine stops: no worker is left serving on its own."""
    assert two_workers.process is not None
    workers = workers_of(two_workers)
    two_workers.process.kill()
    two_workers.process.wait(timeout=10)
    wait_for(lambda: not any(alive(pid) for pid in workers))
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{two_workers.url}/v2/")


@pytest.mark.parametrize("server", SERVERS)
def test_http2_in_clear_text(server: str, tmp_path: Path) -> None:
    live = serve(tmp_path / "data", server, 2)
    try:
        with httpx.Client(http1=False, http2=True) as client:
            digest = push(live.url, "h2c/repo", b"over h2c", client)
            response = client.get(f"{live.url}/v2/h2c/repo/blobs/{digest}")
        assert (response.http_version, response.content) == ("HTTP/2", b"over h2c")
    finally:
        stop_server(live)


@pytest.mark.parametrize("server", SERVERS)
def test_tls_with_http2_by_alpn(server: str, tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path / "tls")
    live = start_tls(tmp_path / "data", None, "--server", server, certificates=certificates)
    try:
        with live.client(http2=True) as client:
            digest = push(live.url, "tls/repo", b"over TLS", client)
            pulled = client.get(f"/v2/tls/repo/blobs/{digest}")
        assert (pulled.http_version, pulled.content) == ("HTTP/2", b"over TLS")
        with live.client() as client:
            assert client.get("/v2/").http_version == "HTTP/1.1"
    finally:
        live.stop()


def bytes_written(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar")


def answering_worker(server: LiveServer, client: httpx.Client) -> int:
    """The worker holding the client's connection: the one that writes the answer."""
    workers = workers_of(server)
    before = {pid: bytes_written(pid) for pid in workers}
    assert client.get(f"{server.url}/v2/").status_code == 200
    [pid] = [pid for pid in workers if bytes_written(pid) > before[pid]]
    return pid


@contextlib.contextmanager
def a_client_on_each_worker(server: LiveServer) -> Iterator[list[httpx.Client]]:
    """One keep-alive connection to each of the two workers (new connections land on
    either, as the kernel or the accepting workers decide)."""
    with contextlib.ExitStack() as stack:
        found: dict[int, httpx.Client] = {}
        for _ in range(100):
            client = stack.enter_context(httpx.Client(timeout=CLIENT_TIMEOUT))
            found.setdefault(answering_worker(server, client), client)
            if len(found) == 2:
                yield list(found.values())
                return
        raise AssertionError("new connections all reached one worker")


class StalledBody:
    """`size` bytes in 64 KiB pieces that stop at the middle until `resume` is set."""

    def __init__(self, size: int) -> None:
        self.data = os.urandom(size)
        self.halfway = threading.Event()
        self.resume = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        piece = 64 * 1024
        for start in range(0, len(self.data), piece):
            if start >= len(self.data) // 2 and not self.halfway.is_set():
                self.halfway.set()
                self.resume.wait(CLIENT_TIMEOUT)
            yield self.data[start : start + piece]


def stored_chunks(server: LiveServer) -> list[Path]:
    assert server.data_dir is not None
    return [p for p in (server.data_dir / "objects" / "uploads").rglob("*") if p.is_file()]


def test_a_cancel_through_one_worker_stops_a_patch_through_the_other(
    two_workers: LiveServer,
) -> None:
    body = StalledBody(16 * 1024 * 1024)
    with (
        a_client_on_each_worker(two_workers) as (streaming, cancelling),
        ThreadPoolExecutor(1) as pool,
    ):
        location = (
            two_workers.url
            + streaming.post(f"{two_workers.url}/v2/cross/repo/blobs/uploads/").headers["Location"]
        )
        patch = pool.submit(streaming.patch, location, content=iter(body))
        assert body.halfway.wait(CLIENT_TIMEOUT)
        started = time.monotonic()
        cancel = cancelling.delete(location)
        cancelled_in = time.monotonic() - started
        body.resume.set()
        patched = patch.result()
        assert (cancel.status_code, patched.status_code) == (204, 404), patched.text
        assert patched.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
        assert cancelled_in < CLIENT_TIMEOUT / 2  # not once the stalled client resumed
        assert cancelling.get(location).status_code == 404
    assert stored_chunks(two_workers) == []


def test_patches_through_two_workers_take_turns(two_workers: LiveServer) -> None:
    first = StalledBody(4 * 1024 * 1024)
    second = os.urandom(1024 * 1024)
    with a_client_on_each_worker(two_workers) as (one, other), ThreadPoolExecutor(2) as pool:
        location = (
            two_workers.url
            + one.post(f"{two_workers.url}/v2/turns/repo/blobs/uploads/").headers["Location"]
        )
        patch = pool.submit(one.patch, location, content=iter(first))
        assert first.halfway.wait(CLIENT_TIMEOUT)
        # Claims the start of the session while the first PATCH still writes there: it
        # waits for that one, then finds the session grown.
        racing = pool.submit(
            other.patch,
            location,
            content=second,
            headers={"Content-Range": f"0-{len(second) - 1}"},
        )
        time.sleep(0.5)
        first.resume.set()
        assert patch.result().status_code == 202
        refused = racing.result()
        assert (refused.status_code, refused.headers.get("Range")) == (
            416,
            f"0-{len(first.data) - 1}",
        )
        digest = "sha256:" + hashlib.sha256(first.data).hexdigest()
        assert other.put(f"{location}?digest={digest}").status_code == 201
        pulled = other.get(f"{two_workers.url}/v2/turns/repo/blobs/{digest}")
        assert pulled.content == first.data


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def put_image(client: httpx.Client, url: str, repo: str, tag: str, label: str) -> str:
    """A one-config image tagged `tag`; its manifest digest."""
    config = json.dumps({"os": "linux", "label": label}).encode()
    digest = push(url, repo, config, client)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "x/y", "digest": digest, "size": len(config)},
        "layers": [],
    }
    response = client.put(
        f"{url}/v2/{repo}/manifests/{tag}",
        content=json.dumps(manifest).encode(),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"]


def tagged(client: httpx.Client, url: str, repo: str, tag: str) -> str:
    response = client.get(f"{url}/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    assert response.status_code == 200, response.text
    return response.headers["Docker-Content-Digest"]


def tags(client: httpx.Client, url: str, repo: str) -> list[str]:
    listed: list[str] = client.get(f"{url}/v2/{repo}/tags/list").json()["tags"]
    return listed


def moves_are_seen_at_once(one: httpx.Client, other: httpx.Client, urls: tuple[str, str]) -> None:
    """Answers cached through `other` (tag, tag list, blob) change with writes through `one`."""
    here, there = urls
    repo = "moved/repo"
    first = put_image(one, here, repo, "latest", "first")
    assert tagged(other, there, repo, "latest") == first  # now in the other's caches
    assert tags(other, there, repo) == ["latest"]
    second = put_image(one, here, repo, "latest", "second")
    assert tagged(other, there, repo, "latest") == second
    put_image(one, here, repo, "v2", "v2")
    assert tags(other, there, repo) == ["latest", "v2"]
    layer = push(here, repo, b"a layer", one)
    assert other.head(f"{there}/v2/{repo}/blobs/{layer}").status_code == 200
    assert one.delete(f"{here}/v2/{repo}/blobs/{layer}").status_code == 202
    assert other.head(f"{there}/v2/{repo}/blobs/{layer}").status_code == 404


def test_a_tag_moved_through_one_worker_is_seen_at_once_through_the_other(
    two_workers: LiveServer,
) -> None:
    with a_client_on_each_worker(two_workers) as (one, other):
        moves_are_seen_at_once(one, other, (two_workers.url, two_workers.url))


def test_a_tag_moved_through_one_replica_is_seen_at_once_through_the_other(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """Two single-process replicas on one PostgreSQL (and one blob directory)."""
    url = postgres.emptied_database()
    flags = ("--metadata-url", url, "--workers", "1")
    replicas = [start_server(tmp_path / "data", *flags) for _ in range(2)]
    try:
        with httpx.Client() as one, httpx.Client() as other:
            moves_are_seen_at_once(one, other, (replicas[0].url, replicas[1].url))
    finally:
        for replica in replicas:
            stop_server(replica)
