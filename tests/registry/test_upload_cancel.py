"""An upload cancelled while requests stream into it, on a real Hypercorn over the filesystem
and over S3 (SeaweedFS). Whatever the interleaving of PATCH, PUT and DELETE, every request is
answered within seconds: a request the cancel cuts short gets 404 BLOB_UPLOAD_UNKNOWN (its
client reads it while still sending), the session's bytes are gone, and the server logs no
traceback, not even when it stops.

Each interleaving runs many rounds with bodies of 16 MiB sent in small pieces a little apart,
so the race window is wide; round by round the DELETE goes further into the body, the last
rounds just after its last piece, while the server stores it or publishes.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.storage.s3server import S3Server, registry_env

M = 1024 * 1024
BODY = 16 * M
PIECE = 64 * 1024
PIECES = BODY // PIECE
PAUSE = 0.0003  # between pieces: a body takes a few hundred milliseconds to send
ROUNDS = 20
AT_THE_END = 4  # rounds that cancel once the last piece is sent
STALL = 3.0  # seconds a client stops sending halfway through its body
PROMPT = 5.0  # seconds: a hang check, not a speed figure
CLIENT_TIMEOUT = 10.0
UNKNOWN = "BLOB_UPLOAD_UNKNOWN"
REPO = "cancel/repo"


@dataclass
class Registry:
    server: LiveServer
    stored: Callable[[], list[str]]  # what is left under uploads/ in the object store
    # Thread-safe; requests at the same time go on connections of their own.
    client: httpx.Client
    http2: bool = False  # each streaming request on an HTTP/2 connection of its own

    @property
    def url(self) -> str:
        return self.server.url

    def start_session(self) -> str:
        response = self.client.post(f"{self.url}/v2/{REPO}/blobs/uploads/")
        assert response.status_code == 202, response.text
        return f"{self.url}{response.headers['Location']}"

    def call(self, method: str, url: str, body: Body | None = None) -> Answer:
        """One request; a body is sent piece by piece."""
        started = time.monotonic()
        if body is None:
            response = self.client.request(method, url)
        elif self.http2:
            with httpx.Client(http1=False, http2=True, timeout=CLIENT_TIMEOUT) as client:
                response = _send(client, method, url, body)
        else:
            response = _send(self.client, method, url, body)
        errors = response.json()["errors"] if response.status_code >= 400 else [{}]
        return Answer(response.status_code, errors[0].get("code"), time.monotonic() - started)

    def cancel_when(self, body: Body, location: str) -> Answer:
        assert body.reached.wait(CLIENT_TIMEOUT)
        return self.call("DELETE", location)

    def assert_session_gone(self, location: str) -> None:
        assert self.client.get(location).status_code == 404

    def log(self) -> str:
        assert self.server.data_dir is not None
        return (self.server.data_dir.parent / f"{self.server.data_dir.name}.log").read_text()


@pytest.fixture(scope="module", params=["filesystem", "s3"])
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """One server per backend for the interleavings; stopped, it must have logged no traceback
    (a request stuck in the server shows one when the server cancels it on the way out)."""
    data_dir = tmp_path_factory.mktemp("cancel") / "data"
    if request.param == "filesystem":
        server = start_server(data_dir)
        stored = _files_under(data_dir / "objects" / "uploads")
    else:
        s3: S3Server = request.getfixturevalue("s3_server")
        bucket: str = request.getfixturevalue("s3_bucket")
        prefix = f"cancel-{uuid.uuid4().hex[:8]}"
        server = start_server(data_dir, env=registry_env(s3, bucket, prefix))
        stored = _s3_under(s3, bucket, f"{prefix}/uploads/")
    with httpx.Client(timeout=CLIENT_TIMEOUT) as client:
        registry = Registry(server, stored, client)
        yield registry
    stop_server(server)
    assert "Traceback" not in registry.log()


def _send(client: httpx.Client, method: str, url: str, body: Body) -> httpx.Response:
    return client.request(method, url, content=body.pieces(), headers=body.headers())


def _files_under(root: Path) -> Callable[[], list[str]]:
    return lambda: sorted(str(path) for path in root.rglob("*") if path.is_file())


def _s3_under(s3: S3Server, bucket: str, prefix: str) -> Callable[[], list[str]]:
    def stored() -> list[str]:
        listing = s3.client().list_multipart_uploads(Bucket=bucket, Prefix=prefix)
        unfinished = [f"multipart upload of {u['Key']}" for u in listing.get("Uploads", [])]
        return s3.keys(bucket, prefix) + unfinished

    return stored


class Body:
    """BODY bytes (one random piece, repeated) sent a piece at a time, with a length header
    in even rounds and chunked in odd ones. `reached` is set when piece number `mark` is
    about to go (after the last one for a mark past the end); the client stops for `stall`
    seconds there."""

    def __init__(self, round_: int, mark: int = PIECES, stall: float = 0.0) -> None:
        self.piece = os.urandom(PIECE)
        self.framed = round_ % 2 == 0
        self.mark = mark
        self.stall = stall
        self.reached = threading.Event()

    @property
    def digest(self) -> str:
        digest = hashlib.sha256()
        for _ in range(PIECES):
            digest.update(self.piece)
        return f"sha256:{digest.hexdigest()}"

    def pieces(self) -> Iterator[bytes]:
        for number in range(PIECES):
            if number == self.mark:
                self.reached.set()
                time.sleep(self.stall)
            yield self.piece
            time.sleep(PAUSE)
        self.reached.set()

    def headers(self) -> dict[str, str]:
        return {"Content-Length": str(BODY)} if self.framed else {}


@dataclass(frozen=True)
class Answer:
    status: int
    code: str | None
    seconds: float


def cancel_mark(round_: int) -> int:
    """The piece the DELETE waits for: from the first to past the last, round by round."""
    return min(PIECES, round_ * PIECES // (ROUNDS - AT_THE_END))


def assert_prompt(*answers: Answer) -> None:
    assert all(answer.seconds < PROMPT for answer in answers), answers


def assert_cut_short(answer: Answer) -> None:
    assert (answer.status, answer.code) == (404, UNKNOWN), answer


def assert_patched_or_cut_short(answer: Answer) -> None:
    if answer.status != 202:
        assert_cut_short(answer)


def cancel_during_patch(registry: Registry, pool: ThreadPoolExecutor, round_: int) -> None:
    location = registry.start_session()
    body = Body(round_, cancel_mark(round_))
    patch = pool.submit(registry.call, "PATCH", location, body)
    cancel = registry.cancel_when(body, location)
    assert cancel.status == 204, cancel
    assert_patched_or_cut_short(patch.result())
    assert_prompt(patch.result(), cancel)
    registry.assert_session_gone(location)


def cancel_during_closing_put(registry: Registry, pool: ThreadPoolExecutor, round_: int) -> None:
    location = registry.start_session()
    body = Body(round_, cancel_mark(round_))
    digest = body.digest
    put = pool.submit(registry.call, "PUT", f"{location}?digest={digest}", body)
    cancel = registry.cancel_when(body, location)
    blob = registry.client.head(f"{registry.url}/v2/{REPO}/blobs/{digest}")
    if put.result().status == 201:  # closed first: the cancel finds no session
        assert (cancel.status, cancel.code, blob.status_code) == (404, UNKNOWN, 200), cancel
    else:
        assert_cut_short(put.result())
        assert (cancel.status, blob.status_code) == (204, 404), cancel
    assert_prompt(put.result(), cancel)
    registry.assert_session_gone(location)


def patch_after_cancel(registry: Registry, pool: ThreadPoolExecutor, round_: int) -> None:
    location = registry.start_session()
    cancel = pool.submit(registry.call, "DELETE", location)
    time.sleep(round_ / 2000)  # from at once to ten milliseconds after the DELETE
    patch = registry.call("PATCH", location, Body(round_))
    assert cancel.result().status == 204, cancel.result()
    assert_patched_or_cut_short(patch)  # 202 only if it overtook the DELETE
    assert_prompt(patch, cancel.result())
    registry.assert_session_gone(location)


def two_patches_and_cancel(registry: Registry, pool: ThreadPoolExecutor, round_: int) -> None:
    """The second PATCH waits for the first; in odd rounds it comes after the DELETE too."""
    location = registry.start_session()
    body = Body(round_, cancel_mark(round_))
    first = pool.submit(registry.call, "PATCH", location, body)
    if round_ % 2 == 0:
        time.sleep(0.005)
        second = pool.submit(registry.call, "PATCH", location, Body(round_ + 1))
        cancel = registry.cancel_when(body, location)
    else:
        cancelled = pool.submit(registry.cancel_when, body, location)
        assert body.reached.wait(CLIENT_TIMEOUT)
        time.sleep(0.005)
        second = pool.submit(registry.call, "PATCH", location, Body(round_ + 1))
        cancel = cancelled.result()
    assert cancel.status == 204, cancel
    assert_patched_or_cut_short(first.result())
    assert_patched_or_cut_short(second.result())
    assert_prompt(first.result(), second.result(), cancel)
    registry.assert_session_gone(location)


@pytest.mark.parametrize(
    "interleaving",
    [
        pytest.param(cancel_during_patch, id="cancel-during-patch"),
        pytest.param(cancel_during_closing_put, id="cancel-during-closing-put"),
        pytest.param(patch_after_cancel, id="patch-after-cancel"),
        pytest.param(two_patches_and_cancel, id="two-patches-and-cancel"),
    ],
)
def test_cancel_answers_every_request_and_leaves_nothing(
    registry: Registry, interleaving: Callable[[Registry, ThreadPoolExecutor, int], None]
) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        for round_ in range(ROUNDS):
            interleaving(registry, pool, round_)
    assert registry.stored() == []


def test_cancel_does_not_wait_for_a_stalled_client(registry: Registry) -> None:
    """A client stops sending halfway: the DELETE is answered at once, not when the body is
    in; the PATCH is answered 404 as soon as its client sends again."""
    location = registry.start_session()
    body = Body(0, PIECES // 2, STALL)
    with ThreadPoolExecutor(max_workers=1) as pool:
        patch = pool.submit(registry.call, "PATCH", location, body)
        cancel = registry.cancel_when(body, location)
        assert_cut_short(patch.result())
    assert (cancel.status, cancel.seconds < STALL) == (204, True), cancel
    assert_prompt(patch.result())
    assert registry.stored() == []


@pytest.mark.parametrize("registry", ["filesystem"], indirect=True)
def test_cancel_answers_requests_streaming_over_http2(registry: Registry) -> None:
    """HTTP/2 has no connection to close for one stream, and Hypercorn fails the whole
    connection when body data comes for a stream it has answered: the rest is read. Half
    the rounds, with the second PATCH before and after the DELETE alike."""
    over_http2 = replace(registry, http2=True)
    with ThreadPoolExecutor(max_workers=3) as pool:
        for n in range(ROUNDS // 2):
            two_patches_and_cancel(over_http2, pool, 2 * n + n % 2)
    assert registry.stored() == []
