"""Repository names and tags as the distribution spec defines them."""

from __future__ import annotations

import re

from manifests.digest import Digest, is_digest_reference
from registry.errors import NameInvalid, TagInvalid

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
MAX_NAME = 255


def check_name(name: str) -> str:
    if len(name) > MAX_NAME or not NAME.fullmatch(name):
        raise NameInvalid({"name": name[: MAX_NAME + 1]})
    return name


def check_tag(tag: str) -> str:
    if not TAG.fullmatch(tag):
        raise TagInvalid({"tag": tag[:200]})
    return tag


def check_reference(reference: str) -> str:
    """A tag or a digest; a malformed digest raises InvalidDigest."""
    if is_digest_reference(reference):
        Digest.parse(reference)
        return reference
    return check_tag(reference)
