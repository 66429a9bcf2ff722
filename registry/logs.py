"""Logging for every process that serves: one handler, on standard error, text or JSON.

`configure(settings)` runs in each serving process (workers too). Every record goes
through the root logger's one handler: the registry's own, the ASGI server's
(Hypercorn's `hypercorn.error`, granian's `_granian` and `granian.access` are emptied
of handlers of their own and propagate), Python warnings and uncaught exceptions. So
with `log_format = "json"` every line the server writes is one JSON object, and each
record is written once. Servers that configure logging themselves from a dictConfig
(granian's `log_dictconfig`) take `dict_config(settings)`, the same configuration.

Records made while a request is handled carry its request id: the request middleware
(registry/observe.py) makes the request known as the origin of the events it causes
(storage.events.ORIGIN), one context variable for both. Extra fields go in
`extra={"fields": {...}}`: top-level keys in JSON, `key=value` pairs after the
message in text.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from registry.config import Settings
from storage.events import ORIGIN

# Loggers that servers give handlers of their own; ours propagate them to the root instead.
SERVER_LOGGERS = ("hypercorn.error", "hypercorn.access", "_granian", "granian.access")
# Standard LogRecord attributes: anything else on a record came in through `extra`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

log = logging.getLogger("artifact-store")


def configure(settings: Settings) -> None:
    logging.config.dictConfig(dict_config(settings))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def dict_config(settings: Settings) -> dict[str, Any]:
    formatter = JsonFormatter if settings.log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"registry": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "registry",
            }
        },
        "root": {"level": settings.log_level.upper(), "handlers": ["stderr"]},
        "loggers": {name: {"handlers": [], "propagate": True} for name in SERVER_LOGGERS},
    }


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The request id, the record's `fields`, and any other extra attribute."""
    found: dict[str, Any] = {}
    request_id = getattr(ORIGIN.get(), "request_id", None)
    if request_id is not None:
        found["request_id"] = request_id
    for key, value in vars(record).items():
        if key == "fields" and isinstance(value, dict):
            found.update(value)
        elif key not in _STANDARD and not key.startswith("_"):
            found[key] = value
    return found


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **record_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        pairs = " ".join(f"{k}={_text(v)}" for k, v in record_fields(record).items())
        return f"{line} {pairs}" if pairs else line


def _text(value: object) -> str:
    text = "-" if value is None else str(value)
    return json.dumps(text) if not text or any(c in text for c in ' "=\n') else text


def _log_uncaught(
    kind: type[BaseException], value: BaseException, traceback: TracebackType | None
) -> None:
    log.critical("uncaught exception", exc_info=(kind, value, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread else "?"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
    log.error("uncaught exception in thread %s", name, exc_info=exc_info)
