from __future__ import annotations

import pytest

from manifests.digest import Digest, InvalidDigest, UnsupportedAlgorithm, is_digest_reference

SHA256 = "a" * 64


@pytest.mark.parametrize(
    ("text", "algorithm", "hex_"),
    [
        pytest.param(f"sha256:{SHA256}", "sha256", SHA256, id="sha256"),
        pytest.param("sha512:" + "0" * 128, "sha512", "0" * 128, id="sha512"),
        pytest.param("blake3:" + "f" * 64, "blake3", "f" * 64, id="blake3"),
    ],
)
def test_parse_valid(text: str, algorithm: str, hex_: str) -> None:
    digest = Digest.parse(text)
    assert (digest.algorithm, digest.hex) == (algorithm, hex_)
    assert str(digest) == text


@pytest.mark.parametrize(
    ("text", "error"),
    [
        pytest.param("", InvalidDigest, id="empty"),
        pytest.param(SHA256, InvalidDigest, id="no-algorithm"),
        pytest.param("sha256:", InvalidDigest, id="no-encoded"),
        pytest.param("sha256:" + "A" * 64, InvalidDigest, id="uppercase-hex"),
        pytest.param("sha256:" + "a" * 63, InvalidDigest, id="short"),
        pytest.param("sha256:" + "a" * 65, InvalidDigest, id="long"),
        pytest.param("sha256:" + "g" * 64, InvalidDigest, id="not-hex"),
        pytest.param("SHA256:" + SHA256, InvalidDigest, id="uppercase-algorithm"),
        pytest.param(f"sha256:{SHA256}\n", InvalidDigest, id="trailing-newline"),
        pytest.param("md5:" + "a" * 32, UnsupportedAlgorithm, id="unknown-algorithm"),
        pytest.param("sha256+b64u:" + "a" * 43, UnsupportedAlgorithm, id="unregistered-variant"),
    ],
)
def test_parse_invalid(text: str, error: type[InvalidDigest]) -> None:
    with pytest.raises(error):
        Digest.parse(text)


def test_unsupported_algorithm_is_an_invalid_digest() -> None:
    assert issubclass(UnsupportedAlgorithm, InvalidDigest)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        pytest.param("latest", False, id="tag"),
        pytest.param(f"sha256:{SHA256}", True, id="digest"),
    ],
)
def test_is_digest_reference(reference: str, expected: bool) -> None:
    assert is_digest_reference(reference) is expected
