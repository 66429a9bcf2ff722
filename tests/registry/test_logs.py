"""Log records as JSON or text, every record once, the server's own included."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from registry import logs
from registry.config import Settings
from storage.events import ORIGIN


@dataclass
class Request:
    request_id: str

    def describe(self) -> dict[str, str]:
        return {"id": self.request_id}


@pytest.fixture
def configured() -> Iterator[None]:
    """Let a test call logs.configure(), then put pytest's logging back."""
    root = logging.getLogger()
    kept = (root.handlers[:], root.level, sys.excepthook, threading.excepthook)
    servers = {name: logging.getLogger(name).handlers[:] for name in logs.SERVER_LOGGERS}
    yield
    root.handlers[:], root.level = kept[0], kept[1]
    sys.excepthook, threading.excepthook = kept[2], kept[3]
    logging.captureWarnings(False)
    for name, handlers in servers.items():
        logging.getLogger(name).handlers[:] = handlers


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_json_lines_for_every_logger_once(
    configured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Hypercorn gives its logger a handler of its own when errorlog is "-": ours takes it away.
    logging.getLogger("hypercorn.error").addHandler(logging.StreamHandler(sys.stderr))
    logs.configure(Settings(log_format="json", log_level="debug"))
    logging.getLogger("hypercorn.error").info("Running on http://127.0.0.1:1")
    logging.getLogger("_granian").warning("granian says\nin two lines")
    token = ORIGIN.set(Request("req-7"))  # what the request middleware sets
    try:
        logging.getLogger("artifact-store.access").info("GET / 200", extra={"fields": {"a": 1}})
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("artifact-store").exception("failed")
    finally:
        ORIGIN.reset(token)
    records = [json.loads(line) for line in lines(capsys)]
    assert [r["message"] for r in records] == [
        "Running on http://127.0.0.1:1",
        "granian says\nin two lines",
        "GET / 200",
        "failed",
    ]
    assert records[1]["level"] == "warning" and records[1]["logger"] == "_granian"
    assert (records[2]["request_id"], records[2]["a"]) == ("req-7", 1)
    assert "ValueError: boom" in records[3]["exception"]
    assert "request_id" not in records[0]


def test_text_lines_with_fields(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(Settings(log_level="info"))
    log = logging.getLogger("artifact-store.access")
    log.info("GET / 200", extra={"fields": {"route": "/v2/", "actor": None, "agent": "a b"}})
    log.debug("not at info")
    (line,) = lines(capsys)
    assert line.endswith('INFO artifact-store.access GET / 200 route=/v2/ actor=- agent="a b"')


def test_uncaught_exceptions_in_threads_are_logged(
    configured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure(Settings(log_format="json"))

    def fail() -> None:
        raise RuntimeError("in a thread")

    thread = threading.Thread(target=fail, name="worker-1")
    thread.start()
    thread.join()
    (record,) = [json.loads(line) for line in lines(capsys)]
    assert record["message"] == "uncaught exception in thread worker-1"
    assert "RuntimeError: in a thread" in record["exception"]
