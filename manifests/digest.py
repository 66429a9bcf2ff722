"""OCI digest strings: parsing, validation and the registered algorithms.

A digest is ``algorithm ":" encoded`` (image-spec descriptor grammar). The
registry accepts the algorithms it can compute while streaming: sha256 (the
canonical one), sha512 and blake3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEX_LENGTHS: dict[str, int] = {"sha256": 64, "sha512": 128, "blake3": 64}

_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


class InvalidDigest(ValueError):
    """The string is not a digest this registry can verify."""


class UnsupportedAlgorithm(InvalidDigest):
    """Well formed, but the algorithm is not one the registry computes."""


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        if not _GRAMMAR.fullmatch(text):
            raise InvalidDigest(text)
        algorithm, _, encoded = text.partition(":")
        length = HEX_LENGTHS.get(algorithm)
        if length is None:
            raise UnsupportedAlgorithm(text)
        if len(encoded) != length or not _is_lower_hex(encoded):
            raise InvalidDigest(text)
        return cls(algorithm, encoded)


def _is_lower_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def is_digest_reference(reference: str) -> bool:
    """A manifest reference is a digest when it contains a colon; tags cannot."""
    return ":" in reference
