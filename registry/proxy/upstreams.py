"""Upstream registries, from the `[[upstream]]` tables of the configuration file:

[[upstream]]
prefix = "hub"                         # /v2/hub/library/alpine/... is library/alpine there
url = "https://registry-1.docker.io"
namespaces = ["docker.io"]             # hosts this upstream answers for (?ns=docker.io)
username = "me"                        # or username_env = "HUB_USER"
password = "..."                       # or password_env = "HUB_TOKEN"
ttl = "5m"                             # how long a tag's digest is trusted without asking
timeout = "10s"                        # connect and read timeout of each upstream request
default = true                         # at most one: pulls of names under no prefix that
                                       # this registry lacks (a Docker registry-mirrors client)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from registry.config import ConfigError, Settings, parse_duration
from registry.names import NAME

if TYPE_CHECKING:  # storage.gc imports prometheus_client, which must wait for the
    from storage.gc import Caches  # multiprocess directory (registry/metrics/multiprocess.py)

KEYS = {
    *("prefix", "url", "namespaces", "ttl", "timeout", "default"),
    *("username", "password", "username_env", "password_env"),
}


@dataclass(frozen=True)
class Upstream:
    prefix: str
    url: str
    namespaces: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = None
    ttl: float = 300.0
    timeout: float = 10.0
    default: bool = False


@dataclass(frozen=True)
class Route:
    """Where a repository of this registry comes from: `remote` at `upstream`, cached here
    under `local`."""

    upstream: Upstream
    local: str
    remote: str
    fallback: bool = False  # the default upstream, behind this registry's own repositories


class Upstreams:
    """Which repositories are caches, and of what."""

    def __init__(self, upstreams: Iterable[Upstream]) -> None:
        self.all = tuple(upstreams)
        self._by_namespace = {ns: u for u in self.all for ns in u.namespaces}
        self._default = next((u for u in self.all if u.default), None)

    def __bool__(self) -> bool:
        return bool(self.all)

    def route(self, name: str, namespace: str | None = None) -> Route | None:
        """The upstream a repository name (with the `ns` a mirror client sent) belongs to."""
        mirrored = self._by_namespace.get(namespace) if namespace else None
        if mirrored is not None:
            return Route(mirrored, f"{mirrored.prefix}/{name}", name)
        for upstream in self.all:
            if name.startswith(upstream.prefix + "/"):
                return Route(upstream, name, name[len(upstream.prefix) + 1 :])
        return None

    def fallback(self, name: str) -> Route | None:
        """Where a repository under no prefix is looked for when this registry lacks what
        was asked: the default upstream, if there is one."""
        if self._default is None or self.is_cache(name):
            return None
        return Route(self._default, f"{self._default.prefix}/{name}", name, fallback=True)

    def is_cache(self, name: str) -> bool:
        return any(name.startswith(u.prefix + "/") for u in self.all)


def collected_caches(settings: Settings) -> Caches:
    """What gc needs of the cache: which repositories are cached, how long pulls keep them."""
    prefixes = tuple(u.prefix for u in parse_upstreams(settings.upstream).all)
    from storage.gc import Caches

    return Caches(prefixes=prefixes, keep=settings.proxy_keep)


def parse_upstreams(tables: Iterable[Mapping[str, Any]]) -> Upstreams:
    upstreams = [parse_upstream(table) for table in tables]
    prefixes = [u.prefix for u in upstreams]
    repeated = sorted({p for p in prefixes if prefixes.count(p) > 1})
    if repeated:
        raise ConfigError(f"upstream: more than one with prefix {', '.join(repeated)}")
    if sum(u.default for u in upstreams) > 1:
        raise ConfigError("upstream: default = true on more than one; keep it on one")
    namespaces = [ns for u in upstreams for ns in u.namespaces]
    repeated = sorted({ns for ns in namespaces if namespaces.count(ns) > 1})
    if repeated:
        raise ConfigError(f"upstream: namespace {', '.join(repeated)} named by more than one")
    return Upstreams(upstreams)


def parse_upstream(table: Mapping[str, Any]) -> Upstream:
    unknown = set(table) - KEYS
    if unknown:
        raise ConfigError(f"upstream: unknown keys {', '.join(sorted(unknown))}")
    prefix, url = str(table.get("prefix", "")), str(table.get("url", ""))
    if not NAME.fullmatch(prefix):
        raise ConfigError(f"upstream: prefix must be a repository name like hub, got {prefix!r}")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ConfigError(f"upstream {prefix}: url must be http:// or https://HOST, got {url!r}")
    namespaces = table.get("namespaces", [])
    if not isinstance(namespaces, list) or not all(isinstance(n, str) for n in namespaces):
        raise ConfigError(f"upstream {prefix}: namespaces must be a list of host names")
    return Upstream(
        prefix=prefix,
        url=url.rstrip("/"),
        namespaces=tuple(namespaces),
        username=_secret(table, "username", prefix),
        password=_secret(table, "password", prefix),
        ttl=parse_duration(table.get("ttl", "5m"), f"upstream {prefix}: ttl"),
        timeout=parse_duration(table.get("timeout", "10s"), f"upstream {prefix}: timeout"),
        default=_flag(table, "default", prefix),
    )


def _flag(table: Mapping[str, Any], key: str, prefix: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"upstream {prefix}: {key} must be true or false, got {value!r}")
    return value


def _secret(table: Mapping[str, Any], key: str, prefix: str) -> str | None:
    """The value itself, or the environment variable `<key>_env` names."""
    if key in table:
        return str(table[key])
    variable = table.get(f"{key}_env")
    if variable is None:
        return None
    if str(variable) not in os.environ:
        raise ConfigError(f"upstream {prefix}: {key}_env names {variable}, which is not set")
    return os.environ[str(variable)]
