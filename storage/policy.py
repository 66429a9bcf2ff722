"""Storage rules: immutable tags, quotas and retention, matched by repository glob.

The rules come from the TOML file (registry/policy_rules.py reads them); here they
are plain values with the matching that storage needs where it writes: a tag push or
delete asks `protecting`, a link of bytes into a repository asks `quotas_of`, and
retention (storage/retention.py) asks `retention_of`.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.globs import Globs


@dataclass(frozen=True)
class ImmutableTags:
    number: int  # its place among the [[immutable_tags]] tables, from 1
    repositories: Globs
    tags: Globs

    def protects(self, repository: str, tag: str) -> bool:
        return self.repositories.matches(repository) and self.tags.matches(tag)

    def __str__(self) -> str:
        where = f"repositories {self.repositories}; tags {self.tags}"
        return f"immutable_tags rule {self.number} ({where})"


@dataclass(frozen=True)
class Quota:
    """One budget shared by every repository the globs cover: `team/**` is a namespace's."""

    number: int  # its place among the [[quota]] tables, from 1
    repositories: Globs
    max_bytes: int

    def __str__(self) -> str:
        return f"quota {self.number} (repositories {self.repositories}; {self.max_bytes} bytes)"


@dataclass(frozen=True)
class Retention:
    number: int  # its place among the [[retention]] tables, from 1
    repositories: Globs
    keep_tags: Globs
    keep_most_recent: int
    pushed_within: float | None  # seconds; None: no window
    delete_untagged: bool


@dataclass(frozen=True)
class StoragePolicy:
    immutable_tags: tuple[ImmutableTags, ...] = ()
    quotas: tuple[Quota, ...] = ()
    retention: tuple[Retention, ...] = ()

    def protecting(self, repository: str, tag: str) -> ImmutableTags | None:
        """The first rule that makes the tag immutable, or None."""
        return next((rule for rule in self.immutable_tags if rule.protects(repository, tag)), None)

    def quotas_of(self, repository: str) -> list[Quota]:
        return [quota for quota in self.quotas if quota.repositories.matches(repository)]

    def retention_of(self, repository: str) -> Retention | None:
        """The first retention rule covering the repository: one rule decides per repository."""
        return next(
            (rule for rule in self.retention if rule.repositories.matches(repository)), None
        )


NO_POLICY = StoragePolicy()
