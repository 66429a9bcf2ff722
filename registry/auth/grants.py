"""What an admitted request may do: everything (auth off), what the policy gives its
principal (anonymous or an htpasswd user), or exactly what its token's scopes say."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from registry.auth.policy import ANONYMOUS, Policy, Principal
from registry.auth.scopes import Access


class Grant:
    subject: str | None = None  # who, for logs and events; None: anonymous
    presented: bool = True  # valid credentials or a valid token came with the request

    def allows(self, repository: str, action: str) -> bool:
        return True

    def may_list_catalog(self) -> bool:
        return True

    def is_admin(self, resource: str) -> bool:
        """May read or operate the registry-wide `resource` (events, usage, ...)."""
        return True

    def pullable(self) -> Callable[[str], bool] | None:
        """A filter for the catalog; None when every repository may be listed."""
        return None


EVERYTHING = Grant()


@dataclass
class PolicyGrant(Grant):
    policy: Policy
    principal: Principal

    def __post_init__(self) -> None:
        self.subject = self.principal.user
        self.presented = not self.principal.anonymous

    def allows(self, repository: str, action: str) -> bool:
        return self.policy.allows(self.principal, repository, action)

    def may_list_catalog(self) -> bool:
        return self.presented or self.policy.may_pull_somewhere(self.principal)

    def is_admin(self, resource: str) -> bool:
        return self.policy.is_admin(self.principal)

    def pullable(self) -> Callable[[str], bool]:
        return lambda name: self.policy.allows(self.principal, name, "pull")


@dataclass
class TokenGrant(Grant):
    """The token's scopes, exactly; the catalog is filtered by the policy for its subject."""

    access: list[Access]
    policy: Policy
    token_subject: str | None
    _actions: dict[str, frozenset[str]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.subject = self.token_subject
        for item in self.access:
            if item.type == "repository":
                known = self._actions.get(item.name, frozenset())
                self._actions[item.name] = known | item.actions

    def allows(self, repository: str, action: str) -> bool:
        actions = self._actions.get(repository, frozenset())
        return action in actions or "*" in actions

    def may_list_catalog(self) -> bool:
        return any(a.type == "registry" and a.name == "catalog" for a in self.access)

    def is_admin(self, resource: str) -> bool:
        return any(
            a.type == "registry" and a.name == resource and "*" in a.actions for a in self.access
        )

    def pullable(self) -> Callable[[str], bool]:
        principal = Principal(self.token_subject) if self.token_subject else ANONYMOUS
        return lambda name: self.policy.allows(principal, name, "pull")
