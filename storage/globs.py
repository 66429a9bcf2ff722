"""Repository and tag patterns, one syntax for every rule in the TOML file.

`*` matches within one path component, `**` across components, `?` one character
that is not `/`; anything else matches itself. `[[auth_policy]]`, `[[immutable_tags]]`,
`[[quota]]` and `[[retention]]` all read their patterns here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_WILD = {"**": ".*", "*": "[^/]*", "?": "[^/]"}


def glob_regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    return re.compile("".join(_WILD.get(part, re.escape(part)) for part in parts))


@dataclass(frozen=True)
class Globs:
    """Patterns as written (for messages) and compiled; matches when any of them does."""

    patterns: tuple[str, ...]
    compiled: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, patterns: Iterable[str]) -> Globs:
        written = tuple(patterns)
        return cls(written, tuple(glob_regex(pattern) for pattern in written))

    def matches(self, name: str) -> bool:
        return any(pattern.fullmatch(name) for pattern in self.compiled)

    def __str__(self) -> str:
        return ", ".join(self.patterns)
