"""A real webhook receiver on 127.0.0.1: records what each POST carried, can refuse
connections (stopped) or answer 503 (failing) for a while, and comes back on its port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.conftest import free_port


@dataclass
class Delivery:
    content_type: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    deliveries: list[Delivery] = field(default_factory=list)
    failing: bool = False  # answer 503 to every POST
    gate: threading.Event | None = None  # when set: take each POST, then answer once it opens
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.record(dict(self.headers), body)
                if receiver.gate is not None:
                    receiver.gate.wait(timeout=120)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the port: deliveries are refused until start() again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def record(self, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            content_type = headers.get("Content-Type", "")
            self.deliveries.append(Delivery(content_type, headers, json.loads(body)))

    def events(self) -> list[dict[str, Any]]:
        """Every event received, in order: envelopes unpacked, CloudEvents' data."""
        with self._lock:
            found: list[dict[str, Any]] = []
            for delivery in self.deliveries:
                if "events" in delivery.body:
                    found.extend(delivery.body["events"])
                else:
                    found.append(delivery.body)
            return found

    def wait_for(
        self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events()
            if done(found):
                return found
            time.sleep(0.2)
        raise AssertionError(f"not received within {timeout}s; got {self.events()}")


def notifications_toml(name: str, url: str, **options: Any) -> str:
    lines = ["[[notifications]]", f'name = "{name}"', f'url = "{url}"']
    lines += [f"{key} = {_toml(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)  # strings and lists of strings are written alike
