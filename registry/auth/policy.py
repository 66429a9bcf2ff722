"""Who may do what where: rules from the TOML file over repository glob patterns.

    [auth_groups]
    team-a = ["alice", "bob"]

    [[auth_policy]]
    repositories = ["team-a/**"]      # "*" stays within one path component, "**" crosses them
    actions = ["pull", "push"]        # pull, push, delete, or "*" for all three; "admin"
                                      # (registry-wide: events, usage) is never implied by "*"
    groups = ["team-a"]               # and/or users = ["carol"], users = ["*"] (any signed-in
    anonymous = false                 # user), anonymous = true (everyone, signed in or not)

Rules only add permissions. Without any rule every signed-in user may do
everything everywhere, admin included, and anonymous callers nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from registry.config import ConfigError
from storage.globs import glob_regex

ACTIONS = ("pull", "push", "delete")
ADMIN = "admin"
RULE_KEYS = {"repositories", "actions", "users", "groups", "anonymous"}


class PolicyError(ConfigError):
    pass


@dataclass(frozen=True)
class Principal:
    user: str | None  # None: anonymous

    @property
    def anonymous(self) -> bool:
        return self.user is None


ANONYMOUS = Principal(None)


@dataclass(frozen=True)
class Rule:
    patterns: tuple[re.Pattern[str], ...]
    actions: frozenset[str]
    users: frozenset[str]
    groups: frozenset[str]
    anonymous: bool

    def covers(self, principal: Principal, groups: Mapping[str, frozenset[str]]) -> bool:
        if self.anonymous or principal.user is None:
            return self.anonymous  # what anyone may do, signed-in users may do too
        if "*" in self.users or principal.user in self.users:
            return True
        return any(principal.user in groups.get(group, ()) for group in self.groups)

    def matches(self, repository: str) -> bool:
        return any(pattern.fullmatch(repository) for pattern in self.patterns)


class Policy:
    def __init__(self, rules: Iterable[Rule], groups: Mapping[str, frozenset[str]]) -> None:
        self.rules = tuple(rules)
        self.groups = dict(groups)

    @classmethod
    def from_settings(
        cls, rules: Iterable[Mapping[str, Any]], groups: Mapping[str, Iterable[str]]
    ) -> Policy:
        parsed = [parse_rule(number, rule) for number, rule in enumerate(rules, 1)]
        if not parsed:
            everything = {"repositories": ["**"], "actions": ["*", ADMIN], "users": ["*"]}
            parsed = [parse_rule(0, everything)]
        return cls(parsed, {name: frozenset(_strings(members)) for name, members in groups.items()})

    def actions(self, principal: Principal, repository: str) -> frozenset[str]:
        found: set[str] = set()
        for rule in self.rules:
            if rule.covers(principal, self.groups) and rule.matches(repository):
                found |= rule.actions
        return frozenset(found)

    def allows(self, principal: Principal, repository: str, action: str) -> bool:
        return action in self.actions(principal, repository)

    def is_admin(self, principal: Principal) -> bool:
        return any(
            rule.covers(principal, self.groups) and ADMIN in rule.actions for rule in self.rules
        )

    def may_pull_somewhere(self, principal: Principal) -> bool:
        return any(
            rule.covers(principal, self.groups) and "pull" in rule.actions for rule in self.rules
        )


def parse_rule(number: int, rule: Mapping[str, Any]) -> Rule:
    unknown = set(rule) - RULE_KEYS
    if unknown:
        raise PolicyError(f"auth_policy rule {number}: unknown keys {', '.join(sorted(unknown))}")
    actions = set(_strings(rule.get("actions", [])))
    if "*" in actions:
        actions = (actions - {"*"}) | set(ACTIONS)
    if not actions or not actions <= {*ACTIONS, ADMIN}:
        allowed = ", ".join((*ACTIONS, ADMIN))
        raise PolicyError(f"auth_policy rule {number}: actions must be from {allowed}")
    repositories = _strings(rule.get("repositories", []))
    if not repositories:
        raise PolicyError(f"auth_policy rule {number}: needs repositories")
    return Rule(
        tuple(glob_regex(pattern) for pattern in repositories),
        frozenset(actions),
        frozenset(_strings(rule.get("users", []))),
        frozenset(_strings(rule.get("groups", []))),
        bool(rule.get("anonymous", False)),
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"expected a list of strings, got {value!r}")
    return value
