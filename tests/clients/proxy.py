"""A recording reverse proxy in front of the registry: tests assert on the requests clients
made, and a failed command lists the ones that failed.

Bodies are streamed both ways; a chunked request body is forwarded chunked."""

from __future__ import annotations

import contextlib
import http.client
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .live_registry import Registry

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
_BODY_CHUNK = 1024 * 1024
_LINE_LIMIT = 65537
_ERROR_BODY_KEPT = 2000
_UPSTREAM_TIMEOUT = 600
_TLS_HANDSHAKE = b"\x16"


@dataclass
class RecordedRequest:
    method: str
    path: str
    status: int  # 0 until the registry answered
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
    """A reverse proxy on 127.0.0.1 that forwards to the registry and records each request."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
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

    def matching(self, method: str, pattern: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def forward(self, h: BaseHTTPRequestHandler) -> None:
        """Forwards one request upstream, relays the answer, and records the exchange."""
        record = _start_record(h)
        body_length = int(h.headers.get("Content-Length") or 0)
        host, port = self.upstream.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=_UPSTREAM_TIMEOUT)
        try:
            _send_request(conn, h, record, body_length)
            self._relay_response(conn.getresponse(), h, record)
        except Exception as exc:
            _answer_proxy_error(h, record, exc)
        finally:
            conn.close()
            with self._lock:
                self.requests.append(record)

    def _relay_response(
        self, resp: http.client.HTTPResponse, h: BaseHTTPRequestHandler, record: RecordedRequest
    ) -> None:
        record.status = resp.status
        record.response_headers = {k.lower(): v for k, v in resp.getheaders()}
        h.send_response_only(resp.status, resp.reason)
        self._send_response_headers(h, resp.getheaders())
        if _has_no_body(h.command, resp.status):
            h.end_headers()
        elif "content-length" in record.response_headers:
            h.end_headers()
            _stream_body(resp, h, record)
        else:
            _send_whole_body(resp, h, record)
        h.wfile.flush()

    def _send_response_headers(
        self, h: BaseHTTPRequestHandler, headers: list[tuple[str, str]]
    ) -> None:
        """The end-to-end headers; a Location naming the registry names the proxy instead."""
        for name, value in headers:
            if name.lower() in _HOP_BY_HOP:
                continue
            if name.lower() == "location":
                value = value.replace(f"//{self.upstream}", f"//{self.host}")
            h.send_header(name, value)


def _handler_class(proxy: RecordingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def handle_one_request(self) -> None:
            with contextlib.suppress(ConnectionError, TimeoutError, OSError):
                if _starts_tls_handshake(self):
                    _refuse_tls(self)
                    return
                super().handle_one_request()

        def _forward(self) -> None:
            proxy.forward(self)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    return Handler


def _starts_tls_handshake(h: BaseHTTPRequestHandler) -> bool:
    return h.rfile.peek(1)[:1] == _TLS_HANDSHAKE  # type: ignore[attr-defined, no-any-return]


def _refuse_tls(h: BaseHTTPRequestHandler) -> None:
    """Answers a TLS ClientHello in plain HTTP, as the registry would, so clients that probe
    https first fall back to http."""
    h.wfile.write(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    h.close_connection = True


def _start_record(h: BaseHTTPRequestHandler) -> RecordedRequest:
    chunked = "chunked" in h.headers.get("Transfer-Encoding", "").lower()
    request_headers = {k.lower(): v for k, v in h.headers.items()}
    return RecordedRequest(h.command, h.path, 0, request_headers, {}, 0, chunked)


def _send_request(
    conn: http.client.HTTPConnection,
    h: BaseHTTPRequestHandler,
    record: RecordedRequest,
    body_length: int,
) -> None:
    """Sends the request line, the end-to-end headers and the body; chunked if it came chunked."""
    headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP_BY_HOP}
    conn.putrequest(h.command, h.path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    if record.chunked:
        conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    if record.chunked:
        _send_chunked(conn, _read_chunked_body(h.rfile, record))
    else:
        for data in _read_fixed_body(h.rfile, body_length, record):
            conn.send(data)


def _send_chunked(conn: http.client.HTTPConnection, chunks: Iterator[bytes]) -> None:
    for data in chunks:
        conn.send(f"{len(data):X}\r\n".encode() + data + b"\r\n")
    conn.send(b"0\r\n\r\n")


def _read_chunked_body(rfile: BufferedIOBase, record: RecordedRequest) -> Iterator[bytes]:
    """The data of each chunk of a chunked request body, without the framing; counted."""
    while True:
        size_line = rfile.readline(_LINE_LIMIT)
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            _skip_trailers(rfile)
            return
        data = rfile.read(size)
        rfile.readline(_LINE_LIMIT)  # the CRLF closing the chunk
        record.request_body_len += len(data)
        yield data


def _skip_trailers(rfile: BufferedIOBase) -> None:
    while rfile.readline(_LINE_LIMIT) not in (b"\r\n", b"\n", b""):
        pass


def _read_fixed_body(
    rfile: BufferedIOBase, length: int, record: RecordedRequest
) -> Iterator[bytes]:
    """A request body of `length` bytes in pieces, counted; ends early if the client goes."""
    remaining = length
    while remaining > 0:
        data = rfile.read(min(remaining, _BODY_CHUNK))
        if not data:
            return
        remaining -= len(data)
        record.request_body_len += len(data)
        yield data


def _has_no_body(method: str, status: int) -> bool:
    return method == "HEAD" or status in (204, 304) or status < 200


def _stream_body(
    resp: http.client.HTTPResponse, h: BaseHTTPRequestHandler, record: RecordedRequest
) -> None:
    """Relays a body of known length piece by piece, keeping the start of an error body."""
    first = True
    while data := resp.read(_BODY_CHUNK):
        if first and record.status >= 400:
            record.error_body = _error_excerpt(data)
        first = False
        h.wfile.write(data)


def _send_whole_body(
    resp: http.client.HTTPResponse, h: BaseHTTPRequestHandler, record: RecordedRequest
) -> None:
    """A body of unknown length is read whole and relayed with a Content-Length."""
    data = resp.read()
    if record.status >= 400:
        record.error_body = _error_excerpt(data)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def _error_excerpt(data: bytes) -> str:
    return data[:_ERROR_BODY_KEPT].decode(errors="replace")


def _answer_proxy_error(h: BaseHTTPRequestHandler, record: RecordedRequest, exc: Exception) -> None:
    """Records the failure; a 502 if nothing was relayed yet; the client connection is closed."""
    record.error_body = f"proxy error: {exc!r}"
    if record.status == 0:
        with contextlib.suppress(Exception):
            h.send_error(502, "bad gateway")
    h.close_connection = True


def assert_blobs_not_resent(registry: Registry, repo: str, digests: set[str]) -> set[str]:
    """Each blob reached `repo` without its bytes being sent again: mounted from another
    repository (POST ?mount=&from= answered 201) or already there (HEAD 200). Returns the
    mounted ones."""
    assert registry.recorder is not None
    requests = [r for r in registry.recorder.requests if r.path.startswith(f"/v2/{repo}/")]
    mounted = _digests_named(requests, digests, _is_mount)
    present = _digests_named(requests, digests, _is_blob_found)
    uploaded = _digests_named(requests, digests, _is_upload)
    log = "\n".join(str(r) for r in requests)
    assert not uploaded, f"blobs sent again to {repo}: {uploaded}\n{log}"
    assert digests <= mounted | present, f"blobs neither mounted nor present in {repo}\n{log}"
    return mounted


def _digests_named(
    requests: list[RecordedRequest], digests: set[str], kind: Callable[[RecordedRequest], bool]
) -> set[str]:
    """The digests that some request of this kind names in its path."""
    return {d for d in digests for r in requests if kind(r) and _names(r, d)}


def _names(r: RecordedRequest, digest: str) -> bool:
    return digest in r.path.replace("%3A", ":")


def _is_mount(r: RecordedRequest) -> bool:
    return r.method == "POST" and "mount=" in r.path and r.status == 201


def _is_blob_found(r: RecordedRequest) -> bool:
    return r.method == "HEAD" and "/blobs/sha256:" in r.path and r.status == 200


def _is_upload(r: RecordedRequest) -> bool:
    return r.method in ("PUT", "PATCH") and "/blobs/uploads/" in r.path
