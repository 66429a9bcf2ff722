"""Webhook sinks, from the `[[notifications]]` tables of the configuration file:

[[notifications]]
name = "ci"                                  # unique; names the sink's cursor
url = "https://ci.example/hooks/registry"
headers = { Authorization = "Bearer ..." }   # sent with every delivery
actions = ["push", "delete"]                 # of push, delete, mount, pull (push,
                                             # delete, mount by default; pull needs
                                             # pull_events = true)
repositories = ["team-a/**"]                 # the auth policy's globs ("**" by default)
timeout = "5s"                               # per delivery
backoff = "1s"                               # first wait after a failure, doubled
backoff_max = "5m"                           # after each one up to this
format = "distribution"                      # or "cloudevents"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from registry.config import ConfigError, parse_duration
from storage.globs import glob_regex

# Each event action, as the kind a sink filters on and distribution's envelope names.
KINDS = {
    "blob.push": "push",
    "manifest.push": "push",
    "tag.push": "push",
    "blob.delete": "delete",
    "manifest.delete": "delete",
    "tag.delete": "delete",
    "blob.mount": "mount",
    "blob.pull": "pull",
    "manifest.pull": "pull",
}
FORMATS = ("distribution", "cloudevents")
KEYS = {
    *("name", "url", "headers", "actions", "repositories"),
    *("timeout", "backoff", "backoff_max", "format"),
}
DEFAULT_ACTIONS = ("push", "delete", "mount")


@dataclass(frozen=True)
class Sink:
    name: str
    url: str
    headers: Mapping[str, str]
    actions: frozenset[str]
    repositories: tuple[re.Pattern[str], ...]
    timeout: float = 5.0
    backoff: float = 1.0
    backoff_max: float = 300.0
    format: str = "distribution"

    def wants(self, fields: Mapping[str, Any]) -> bool:
        """Whether an event (its payload's fields) is for this sink."""
        if KINDS.get(fields.get("action", "")) not in self.actions:
            return False
        repository = fields.get("repository") or ""
        return any(pattern.fullmatch(repository) for pattern in self.repositories)

    def wait_after(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row (1, 2, ...)."""
        return float(min(self.backoff * 2 ** min(failures - 1, 30), self.backoff_max))


def parse_sinks(tables: Iterable[Mapping[str, Any]]) -> list[Sink]:
    sinks = [parse_sink(table) for table in tables]
    names = [sink.name for sink in sinks]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"notifications: more than one sink named {', '.join(duplicates)}")
    return sinks


def parse_sink(table: Mapping[str, Any]) -> Sink:
    unknown = set(table) - KEYS
    name = table.get("name")
    where = f"notifications {name!r}" if isinstance(name, str) else "notifications"
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    if not isinstance(name, str) or not name or len(name) > 255:
        raise ConfigError(f"{where}: needs a name (up to 255 characters)")
    return Sink(
        name=name,
        url=_url(where, table.get("url")),
        headers=_headers(where, table.get("headers", {})),
        actions=_actions(where, table.get("actions", DEFAULT_ACTIONS)),
        repositories=_globs(where, table.get("repositories", ["**"])),
        timeout=_seconds(where, table, "timeout", "5s"),
        backoff=_seconds(where, table, "backoff", "1s"),
        backoff_max=_seconds(where, table, "backoff_max", "5m"),
        format=_format(where, table.get("format", "distribution")),
    )


def _url(where: str, value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"https?://[^/\s]+", value):
        raise ConfigError(f"{where}: url must be an http:// or https:// URL, got {value!r}")
    return value


def _headers(where: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(f"{where}: headers must be a table of strings")
    return dict(value)


def _actions(where: str, value: Any) -> frozenset[str]:
    kinds = set(KINDS.values())
    if not _strings(value) or not set(value) <= kinds:
        raise ConfigError(f"{where}: actions must be a list of {', '.join(sorted(kinds))}")
    return frozenset(value)


def _globs(where: str, value: Any) -> tuple[re.Pattern[str], ...]:
    if not _strings(value):
        raise ConfigError(f"{where}: repositories must be a list of glob patterns")
    return tuple(glob_regex(pattern) for pattern in value)


def _seconds(where: str, table: Mapping[str, Any], key: str, default: str) -> float:
    seconds = parse_duration(table.get(key, default), f"{where} {key}")
    if seconds <= 0:
        raise ConfigError(f"{where}: {key} must be longer than 0s")
    return seconds


def _format(where: str, value: Any) -> str:
    if value not in FORMATS:
        raise ConfigError(f"{where}: format must be one of {', '.join(FORMATS)}, got {value!r}")
    return str(value)


def _strings(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
