"""The hierarchy drawn in storage/errors.py's docstring is the one the module defines."""

from __future__ import annotations

import re

from storage import errors


def subclasses(cls: type[Exception]) -> set[str]:
    found: set[str] = set()
    subs: list[type[Exception]] = cls.__subclasses__()
    for sub in subs:
        found |= {sub.__name__, *subclasses(sub)}
    return found


def test_the_docstring_draws_every_error_and_no_other() -> None:
    assert errors.__doc__ is not None
    drawn = set(re.findall(r"[├└]── (\w+)", errors.__doc__))
    assert drawn == subclasses(errors.StorageError)
