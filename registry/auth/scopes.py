"""Docker token scopes: `repository:team/app:pull,push`, `registry:catalog:*`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from registry.names import NAME


@dataclass(frozen=True)
class Access:
    type: str  # "repository" or "registry"
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"

    def claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


CATALOG = Access("registry", "catalog", frozenset({"*"}))
# registry-wide resources an admin grant covers: `registry:events:*`, `registry:usage:*`
ADMIN_RESOURCES = frozenset({"events", "usage", "metrics"})


def parse_scopes(values: Iterable[str]) -> list[Access]:
    """Each value may hold several scopes separated by spaces (OAuth2 style)."""
    found = [parse_scope(item) for value in values for item in value.split()]
    return [access for access in found if access is not None]


def parse_scope(item: str) -> Access | None:
    kind, _, rest = item.partition(":")
    name, _, actions = rest.rpartition(":")
    kind = kind.split("(", 1)[0]  # "repository(plugin)": the resource class does not matter here
    if kind == "repository" and NAME.fullmatch(name):
        return Access(kind, name, frozenset(a for a in actions.split(",") if a))
    if kind == "registry" and name == "catalog":
        return CATALOG
    if kind == "registry" and name in ADMIN_RESOURCES:
        return Access(kind, name, frozenset({"*"}))
    return None


def from_claims(claims: Any) -> list[Access]:
    """The `access` claim of a token; anything malformed grants nothing."""
    if not isinstance(claims, list):
        return []
    found = []
    for item in claims:
        if not isinstance(item, dict):
            continue
        kind, name, actions = item.get("type"), item.get("name"), item.get("actions")
        if isinstance(kind, str) and isinstance(name, str) and isinstance(actions, list):
            found.append(Access(kind, name, frozenset(a for a in actions if isinstance(a, str))))
    return found
