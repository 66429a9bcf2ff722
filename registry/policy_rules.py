"""The storage policy from the TOML file: [[immutable_tags]], [[quota]], [[retention]].

    [[immutable_tags]]
    repositories = ["prod/**"]          # the glob syntax of [[auth_policy]]
    tags = ["v*", "release-*"]          # globs on the tag

    [[quota]]
    repositories = ["team-a/**"]        # one budget for every repository matched
    max_bytes = 10737418240

    [[retention]]
    repositories = ["ci/**"]            # the first rule that matches a repository decides
    keep_tags = ["release-*"]
    keep_most_recent = 10
    pushed_within = "30d"
    delete_untagged = true

docs/policy.md says what each rule does; storage/policy.py holds them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from registry.config import ConfigError, Settings, parse_duration
from storage.globs import Globs
from storage.policy import ImmutableTags, Quota, Retention, StoragePolicy

Rule = TypeVar("Rule")
IMMUTABLE_KEYS = {"repositories", "tags"}
QUOTA_KEYS = {"repositories", "max_bytes"}
RETENTION_KEYS = {
    "repositories",
    "keep_tags",
    "keep_most_recent",
    "pushed_within",
    "delete_untagged",
}


def storage_policy(settings: Settings) -> StoragePolicy:
    return StoragePolicy(
        _rules("immutable_tags", settings.immutable_tags, IMMUTABLE_KEYS, _immutable),
        _rules("quota", settings.quota, QUOTA_KEYS, _quota),
        _rules("retention", settings.retention, RETENTION_KEYS, _retention),
    )


def _rules(
    kind: str,
    tables: Sequence[Mapping[str, Any]],
    keys: set[str],
    parse: Callable[[str, int, Mapping[str, Any]], Rule],
) -> tuple[Rule, ...]:
    rules = []
    for number, table in enumerate(tables, 1):
        where = f"{kind} rule {number}"
        unknown = set(table) - keys
        if unknown:
            raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        rules.append(parse(where, number, table))
    return tuple(rules)


def _immutable(where: str, number: int, table: Mapping[str, Any]) -> ImmutableTags:
    return ImmutableTags(number, _globs(where, table, "repositories"), _globs(where, table, "tags"))


def _quota(where: str, number: int, table: Mapping[str, Any]) -> Quota:
    return Quota(
        number, _globs(where, table, "repositories"), _count(where, table, "max_bytes", None)
    )


def _retention(where: str, number: int, table: Mapping[str, Any]) -> Retention:
    window = table.get("pushed_within")
    delete_untagged = table.get("delete_untagged", False)
    if not isinstance(delete_untagged, bool):
        raise ConfigError(f"{where}: delete_untagged must be true or false")
    return Retention(
        number,
        _globs(where, table, "repositories"),
        Globs.of(_strings(where, table, "keep_tags", required=False)),
        _count(where, table, "keep_most_recent", 0),
        None if window is None else parse_duration(window, f"{where} pushed_within"),
        delete_untagged,
    )


def _globs(where: str, table: Mapping[str, Any], key: str) -> Globs:
    return Globs.of(_strings(where, table, key, required=True))


def _strings(where: str, table: Mapping[str, Any], key: str, *, required: bool) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: {key} must be a list of glob patterns")
    if required and not value:
        raise ConfigError(f"{where}: needs {key}")
    return value


def _count(where: str, table: Mapping[str, Any], key: str, default: int | None) -> int:
    value = table.get(key, default)
    if value is None:
        raise ConfigError(f"{where}: needs {key}")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{where}: {key} must be a whole number, 0 or more, got {value!r}")
    return value
