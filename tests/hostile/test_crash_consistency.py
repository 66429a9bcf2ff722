"""kill -9 at each stage of a push or a manifest PUT, then a restart on the same data
directory (filesystem and SQLite, one worker): every blob and manifest the client was
told is stored (201) is served whole, HEAD and GET agree, a body cut short is unknown,
upload sessions acknowledged (202) resume where the server said they stood, and new
pushes work. Then the whole store is consistent: every blobs row has its object, of its
size and hashing to its BLAKE3 key; every alias hashes right; no link, manifest or tag
points at a missing row; `verify` finds nothing corrupt or missing; and after
`gc --grace 0s` no file is left under uploads/ nor any object that no row knows.

Each kill point is proven, not timed: the server has read every byte sent so far (its
end of the connection holds none unread, /proc/net/tcp) and, for blob bodies, written
them under uploads/. The whole server is frozen (SIGSTOP) before it is killed, so no
process notices another die and shuts down gracefully instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import selectors
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3
import httpx
import pytest

from storage import layout
from storage.database import default_url, sqlite_file
from storage.uploads import INGEST_CHUNK
from tests.conftest import LiveServer, start_server
from tests.registry.helpers import OCI_MANIFEST, image, sha256

MIB = 1024 * 1024
BODY = 4 * MIB  # each blob cut short: its first half is sent, the rest never
MOUNTS = 48  # cross-repository mounts sent at once
ANSWERED_BEFORE_KILL = 3  # mounts answered 201 before the kill; the others are in flight
WAIT = 60.0  # seconds: a bound on every wait, far past what a busy machine needs
EXE = shutil.which("artifact-store", path=str(Path(sys.executable).parent)) or "artifact-store"


@dataclass(frozen=True)
class Content:
    """A blob or a manifest as the client sent it, in one repository."""

    kind: str  # "blobs" or "manifests"
    repository: str
    data: bytes
    tag: str | None = None
    kept: bool = False  # a tagged manifest or one of its blobs: gc must keep it

    @property
    def digest(self) -> str:
        return sha256(self.data)

    def paths(self) -> list[str]:
        references = [self.digest, *([self.tag] if self.tag else [])]
        return [f"/v2/{self.repository}/{self.kind}/{reference}" for reference in references]


@dataclass(frozen=True)
class Session:
    """An upload session whose first bytes, `done`, the server acknowledged (202)."""

    repository: str
    location: str
    done: bytes
    rest: bytes


@dataclass
class Ledger:
    """What the client was told, and what it sent without being told anything."""

    stored: list[Content] = field(default_factory=list)  # answered 201
    cut_short: list[Content] = field(default_factory=list)  # body never sent whole
    unanswered: list[Content] = field(default_factory=list)  # sent whole, no answer read
    sessions: list[Session] = field(default_factory=list)


@dataclass
class Scene:
    """A stage's server, a client of it and the ledger; the stage calls `kill` at its point."""

    server: LiveServer
    client: httpx.Client
    ledger: Ledger

    def kill(self) -> None:
        kill_hard(self.server)

    def deliver(self, sock: socket.socket, part: bytes, written: int = 0) -> None:
        """Send `part` of a body; return once the server has read all of it and holds at
        least `written` bytes under uploads/."""
        sock.sendall(part)
        wait_for(lambda: unread(sock) == 0, "the server to read what was sent")
        assert self.server.data_dir is not None
        data_dir = self.server.data_dir
        wait_for(lambda: uploaded_bytes(data_dir) >= written, f"{written} bytes under uploads/")


# Stages: each pushes, then kills the server at its point ------------------------------


def during_a_monolithic_post(scene: Scene) -> None:
    blob = Content("blobs", "crash", os.urandom(BODY))
    path = f"/v2/crash/blobs/uploads/?digest={blob.digest}"
    with raw_request(scene.server, "POST", path, len(blob.data)) as sock:
        scene.deliver(sock, blob.data[: BODY // 2], INGEST_CHUNK)
        scene.kill()
    scene.ledger.cut_short.append(blob)


def during_a_chunked_patch(scene: Scene) -> None:
    first, second = os.urandom(MIB), os.urandom(BODY)
    location = patch(scene.client, open_session(scene.client, "crash"), first)
    scene.ledger.sessions.append(Session("crash", location, first, second))
    with raw_request(scene.server, "PATCH", location, len(second)) as sock:
        scene.deliver(sock, second[: BODY // 2], len(first) + INGEST_CHUNK)
        scene.kill()


def between_patch_and_put(scene: Scene) -> None:
    data = os.urandom(BODY)
    location = patch(scene.client, open_session(scene.client, "crash"), data)
    scene.ledger.sessions.append(Session("crash", location, data, b""))
    scene.kill()


def during_the_closing_put(scene: Scene) -> None:
    first, second = os.urandom(MIB), os.urandom(BODY)
    location = patch(scene.client, open_session(scene.client, "crash"), first)
    scene.ledger.sessions.append(Session("crash", location, first, second))
    closing = str(httpx.URL(location).copy_merge_params({"digest": sha256(first + second)}))
    with raw_request(scene.server, "PUT", closing, len(second)) as sock:
        scene.deliver(sock, second[: BODY // 2], len(first) + INGEST_CHUNK)
        scene.kill()


def right_after_blob_pushes(scene: Scene) -> None:
    scene.ledger.stored.append(push_blob(scene.client, "crash", os.urandom(BODY)))
    scene.ledger.stored.append(push_chunked(scene.client, "crash", os.urandom(BODY)))
    scene.kill()


def during_a_manifest_put(scene: Scene) -> None:
    config, layer = push_blobs(scene.client, "crash")
    scene.ledger.stored += [config, layer]
    manifest = Content("manifests", "crash", image(config.data, layer.data), "cut")
    length = len(manifest.data)
    with raw_request(scene.server, "PUT", manifest.paths()[1], length, OCI_MANIFEST) as sock:
        scene.deliver(sock, manifest.data[:-16])
        scene.kill()
    scene.ledger.cut_short.append(manifest)


def right_after_a_manifest_put(scene: Scene) -> None:
    scene.ledger.stored += push_image(scene.client, "crash", "acked")
    scene.kill()


def during_a_mount_burst(scene: Scene) -> None:
    blob = push_blob(scene.client, "source", os.urandom(256 * 1024))
    scene.ledger.stored.append(blob)
    query = f"?mount={blob.digest}&from=source"
    with contextlib.ExitStack() as stack:
        sockets = [
            stack.enter_context(
                raw_request(scene.server, "POST", f"/v2/mount-{i}/blobs/uploads/{query}", 0)
            )
            for i in range(MOUNTS)
        ]
        answers = first_answers(sockets, ANSWERED_BEFORE_KILL)
        scene.kill()
    assert all(answer.startswith(b"HTTP/1.1 201 ") for answer in answers.values()), answers
    for i in range(MOUNTS):
        mounted = Content("blobs", f"mount-{i}", blob.data)
        (scene.ledger.stored if i in answers else scene.ledger.unanswered).append(mounted)


STAGES = [
    pytest.param(during_a_monolithic_post, id="during-monolithic-post-body"),
    pytest.param(during_a_chunked_patch, id="during-chunked-patch-body"),
    pytest.param(between_patch_and_put, id="between-patch-and-closing-put"),
    pytest.param(during_the_closing_put, id="during-closing-put-body"),
    pytest.param(right_after_blob_pushes, id="right-after-blob-push-201"),
    pytest.param(during_a_manifest_put, id="during-manifest-put-body"),
    pytest.param(right_after_a_manifest_put, id="right-after-manifest-put-201"),
    pytest.param(during_a_mount_burst, id="during-mount-burst"),
]


class Servers:
    """The servers of one test, all on one data directory; any still running at the end
    is killed."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.started: list[LiveServer] = []

    def start(self) -> LiveServer:
        self.started.append(start_server(self.data_dir, "--workers", "1"))
        return self.started[-1]

    def close(self) -> None:
        for server in self.started:
            kill_hard(server)


@pytest.fixture
def servers(data_dir: Path) -> Iterator[Servers]:
    started = Servers(data_dir)
    yield started
    started.close()


@pytest.mark.parametrize("stage", STAGES)
def test_a_kill_leaves_the_store_consistent(
    servers: Servers, data_dir: Path, stage: Callable[[Scene], None]
) -> None:
    ledger = Ledger()
    server = servers.start()
    with client_of(server) as client:
        ledger.stored += push_image(client, "base", "v1")
        stage(Scene(server, client, ledger))
    assert server.process is not None and server.process.poll() is not None, "not killed"
    with client_of(servers.start()) as client:
        check_served(client, ledger)
        check_store(client, data_dir, ledger)


def check_served(client: httpx.Client, ledger: Ledger) -> None:
    """What the client was told survives; what it was not told is absent or whole; the
    acknowledged sessions finish; and a new image can be pushed."""
    for content in ledger.cut_short:
        assert_unknown(client, content)
    for content in ledger.unanswered:
        assert_absent_or_whole(client, content)
    ledger.stored += [resume(client, session) for session in ledger.sessions]
    for content in ledger.stored:
        assert_served(client, content)
    assert_listed(client, ledger.stored)
    ledger.stored += push_image(client, "fresh", "after-restart")


def check_store(client: httpx.Client, data_dir: Path, ledger: Ledger) -> None:
    """The whole store, read from its files, before and after a gc with no grace period
    (which also removes what nothing references; tagged images stay)."""
    assert_rows_consistent(data_dir)
    # Exit status 1 is a finding: orphans (objects no row knows) are left for gc.
    found = artifact_store("verify", data_dir, passing=(0, 1))
    assert found["corrupt"] == found["missing"] == found["quarantined"] == 0, found
    artifact_store("gc", data_dir, "--grace", "0s")
    assert_rows_consistent(data_dir)
    assert_only_known_objects(data_dir)
    for content in ledger.stored:
        if content.kept:
            assert_served(client, content)


# What the registry answers -------------------------------------------------------------


def assert_served(client: httpx.Client, content: Content) -> None:
    for path in content.paths():
        head, get = client.head(path), client.get(path)
        assert (head.status_code, get.status_code) == (200, 200), f"{path}: {get.text[:300]}"
        assert sha256(get.content) == content.digest, f"{path}: other bytes"
        assert head.headers["Content-Length"] == str(len(content.data)), path
        assert head.headers["Docker-Content-Digest"] == content.digest, path
        assert get.headers["Docker-Content-Digest"] == content.digest, path


def assert_listed(client: httpx.Client, stored: list[Content]) -> None:
    """The catalog and the tag lists answer, and name every tag pushed."""
    catalog = client.get("/v2/_catalog")
    assert catalog.status_code == 200, catalog.text
    for content in stored:
        if content.tag is not None:
            assert content.repository in catalog.json()["repositories"]
            listed = client.get(f"/v2/{content.repository}/tags/list")
            assert listed.status_code == 200, listed.text
            assert content.tag in listed.json()["tags"]


def assert_unknown(client: httpx.Client, content: Content) -> None:
    for path in content.paths():
        head, get = client.head(path), client.get(path)
        assert (head.status_code, get.status_code) == (404, 404), f"{path}: {get.text[:300]}"
        assert get.json()["errors"][0]["code"] in ("BLOB_UNKNOWN", "MANIFEST_UNKNOWN"), path


def assert_absent_or_whole(client: httpx.Client, content: Content) -> None:
    head = client.head(content.paths()[0])
    if head.status_code == 200:
        assert_served(client, content)
    else:
        assert_unknown(client, content)


def resume(client: httpx.Client, session: Session) -> Content:
    """Finish a session the server acknowledged before it was killed: it stands where the
    last 202 said, and the blob it closes into hashes right."""
    status = client.get(session.location)
    assert status.status_code == 204, f"session lost: {status.text[:300]}"
    assert status.headers["Range"] == f"0-{len(session.done) - 1}"
    location = status.headers["Location"]
    if session.rest:
        location = patch(client, location, session.rest)
    blob = Content("blobs", session.repository, session.done + session.rest)
    closed = client.put(location, params={"digest": blob.digest})
    assert closed.status_code == 201, closed.text
    return blob


# What the store holds ------------------------------------------------------------------

ALIASES = "SELECT algorithm, hex, blob_key FROM digest_aliases"
DANGLING = """
SELECT 'alias', hex FROM digest_aliases WHERE blob_key NOT IN (SELECT key FROM blobs)
UNION ALL
SELECT 'link', blob_key FROM repository_blobs WHERE blob_key NOT IN (SELECT key FROM blobs)
UNION ALL
SELECT 'manifest', blob_key FROM manifests WHERE blob_key NOT IN (SELECT key FROM blobs)
UNION ALL
SELECT 'reference', child_key FROM manifest_refs WHERE child_key NOT IN (SELECT key FROM blobs)
UNION ALL
SELECT 'tag', name FROM tags t WHERE NOT EXISTS (
    SELECT 1 FROM manifests m
    WHERE m.repository_id = t.repository_id AND m.blob_key = t.manifest_key
)
"""


def rows(data_dir: Path, query: str) -> list[tuple[Any, ...]]:
    """Rows of the metadata database, read-only, as the server left it."""
    path = sqlite_file(default_url(data_dir))
    assert path is not None
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return db.execute(query).fetchall()


def assert_rows_consistent(data_dir: Path) -> None:
    blobs = rows(data_dir, "SELECT key, size, quarantined, sweeping FROM blobs")
    for key, size, quarantined, sweeping in blobs:
        data = stored_object(data_dir, key)
        assert (len(data), blake3.blake3(data).hexdigest()) == (size, key), f"blob {key} corrupt"
        assert (quarantined, sweeping) == (None, None), f"blob {key} left marked"
    for algorithm, hex_digest, key in rows(data_dir, ALIASES):
        hashed = hex_of(algorithm, stored_object(data_dir, key))
        assert hashed == hex_digest, f"alias {algorithm}:{hex_digest} of {key}"
    assert rows(data_dir, DANGLING) == []


def assert_only_known_objects(data_dir: Path) -> None:
    """No stray: every object is the blob of a row (nothing under uploads/, no temp files)."""
    objects = data_dir / "objects"
    found = {p.relative_to(objects).as_posix() for p in objects.rglob("*") if p.is_file()}
    known = {layout.blob_key(key) for (key,) in rows(data_dir, "SELECT key FROM blobs")}
    assert found == known, f"strays: {sorted(found - known)}, missing: {sorted(known - found)}"
    assert rows(data_dir, "SELECT id FROM uploads") == []


def stored_object(data_dir: Path, key: str) -> bytes:
    path = data_dir / "objects" / layout.blob_key(key)
    assert path.is_file(), f"blobs row {key} has no object at {path}"
    return path.read_bytes()


def hex_of(algorithm: str, data: bytes) -> str:
    if algorithm == "blake3":
        return str(blake3.blake3(data).hexdigest())
    return hashlib.new(algorithm, data).hexdigest()


def artifact_store(
    command: str, data_dir: Path, *args: str, passing: tuple[int, ...] = (0,)
) -> dict[str, Any]:
    """The JSON report of a command run beside the server."""
    done = subprocess.run(
        [EXE, command, "--data-dir", str(data_dir), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in passing, f"{command} exited {done.returncode}: {done.stderr}"
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def uploaded_bytes(data_dir: Path) -> int:
    total = 0
    for path in (data_dir / "objects" / layout.UPLOADS).rglob("*"):
        with contextlib.suppress(FileNotFoundError):  # renamed or removed meanwhile
            total += path.stat().st_size if path.is_file() else 0
    return total


# Pushes --------------------------------------------------------------------------------


def client_of(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=WAIT)


def push_blob(client: httpx.Client, repository: str, data: bytes, kept: bool = False) -> Content:
    blob = Content("blobs", repository, data, kept=kept)
    pushed = client.post(
        f"/v2/{repository}/blobs/uploads/", params={"digest": blob.digest}, content=data
    )
    assert pushed.status_code == 201, pushed.text
    return blob


def push_blobs(
    client: httpx.Client, repository: str, kept: bool = False
) -> tuple[Content, Content]:
    """A config and a layer."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "id": os.urandom(8).hex()})
    return (
        push_blob(client, repository, config.encode(), kept),
        push_blob(client, repository, os.urandom(64 * 1024), kept),
    )


def push_image(client: httpx.Client, repository: str, tag: str) -> list[Content]:
    config, layer = push_blobs(client, repository, kept=True)
    manifest = Content("manifests", repository, image(config.data, layer.data), tag, kept=True)
    headers = {"Content-Type": OCI_MANIFEST}
    pushed = client.put(manifest.paths()[1], content=manifest.data, headers=headers)
    assert pushed.status_code == 201, pushed.text
    return [config, layer, manifest]


def push_chunked(client: httpx.Client, repository: str, data: bytes) -> Content:
    blob = Content("blobs", repository, data)
    location = patch(client, open_session(client, repository), data)
    closed = client.put(location, params={"digest": blob.digest})
    assert closed.status_code == 201, closed.text
    return blob


def open_session(client: httpx.Client, repository: str) -> str:
    opened = client.post(f"/v2/{repository}/blobs/uploads/")
    assert opened.status_code == 202, opened.text
    return opened.headers["Location"]


def patch(client: httpx.Client, location: str, data: bytes) -> str:
    headers = {"Content-Type": "application/octet-stream"}
    patched = client.patch(location, content=data, headers=headers)
    assert patched.status_code == 202, patched.text
    return patched.headers["Location"]


# Raw connections -----------------------------------------------------------------------


@contextlib.contextmanager
def raw_request(
    server: LiveServer,
    method: str,
    path: str,
    length: int,
    content_type: str = "application/octet-stream",
) -> Iterator[socket.socket]:
    """A connection that has sent a request's head announcing `length` body bytes."""
    host, port = server.host.split(":")
    with socket.create_connection((host, int(port)), timeout=WAIT) as sock:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {server.host}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
        )
        sock.sendall(head.encode())
        yield sock


def first_answers(sockets: list[socket.socket], count: int) -> dict[int, bytes]:
    """The heads of the first `count` responses to arrive, by the index of their socket."""
    received = dict.fromkeys(range(len(sockets)), b"")
    with selectors.DefaultSelector() as selector:
        for i, sock in enumerate(sockets):
            selector.register(sock, selectors.EVENT_READ, i)
        deadline = time.monotonic() + WAIT
        while len(done := answered(received)) < count and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                chunk = sockets[key.data].recv(65536)
                received[key.data] += chunk
                if not chunk:  # closed: nothing more will come
                    selector.unregister(key.fileobj)
    assert len(done) >= count, f"{len(done)} of {len(sockets)} mounts answered in {WAIT}s"
    return done


def answered(received: dict[int, bytes]) -> dict[int, bytes]:
    return {
        i: data.partition(b"\r\n\r\n")[0] for i, data in received.items() if b"\r\n\r\n" in data
    }


def unread(sock: socket.socket) -> int | None:
    """Bytes sent on `sock` that the server has not read yet: in flight (our send queue)
    plus waiting in its receive queue. None until both ends show in /proc/net/tcp."""
    ours, theirs = tcp_address(sock.getsockname()), tcp_address(sock.getpeername())
    total, ends = 0, 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, _, queues = line.split()[1:5]
        if (local, remote) in ((ours, theirs), (theirs, ours)):
            sent, waiting = (int(n, 16) for n in queues.split(":"))
            total, ends = total + (sent if local == ours else waiting), ends + 1
    return total if ends == 2 else None


def tcp_address(address: tuple[str, int]) -> str:
    """An IPv4 address as /proc/net/tcp prints it: the address as a native int, in hex."""
    ip = int.from_bytes(socket.inet_aton(address[0]), sys.byteorder)
    return f"{ip:08X}:{address[1]:04X}"


# Killing -------------------------------------------------------------------------------


def kill_hard(server: LiveServer) -> None:
    """SIGKILL the server and its workers, all frozen first; return once all are gone."""
    assert server.process is not None
    if server.process.poll() is not None:
        return
    pids = freeze(server.process.pid)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait(timeout=WAIT)
    wait_for(lambda: not any(alive(pid) for pid in pids), "the killed processes to exit")


def freeze(pid: int) -> list[int]:
    """SIGSTOP the process, then its descendants (a stopped parent starts no new one)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGSTOP)
    frozen = [pid]
    for child in children(pid):
        frozen += freeze(child)
    return frozen


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            found += [int(child) for child in task.read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"waited {WAIT}s for {what}"
        time.sleep(0.02)
