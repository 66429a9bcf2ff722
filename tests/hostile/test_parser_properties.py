"""Properties of the parsers that take hostile text: whatever the input, each answers
with its value or its one documented error, never another exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manifests.digest import Digest, InvalidDigest
from manifests.parse import MAX_DESCRIPTORS, ManifestInvalid, parse_manifest
from registry.errors import RangeNotSatisfiable
from registry.http import MAX_DIGITS, ascii_int, byte_range

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=2**70).map(str),
    st.text(
        alphabet="0123456789\u00b2\u00b3\u0661\u0665\u0667\uff10\uff11-+ e", max_size=MAX_DIGITS + 4
    ),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
DESCRIPTOR_KEYS = ["mediaType", "digest", "size", "annotations", "urls", "artifactType"]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(NUMBERS)
def test_ascii_int_reads_only_ascii_digits(text: str) -> None:
    value = ascii_int(text)
    if value is None:
        assert not (text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS)
    else:
        assert text.isascii() and str(value) == text.lstrip("0").rjust(1, "0")


@FUZZ
@given(st.text(max_size=80), st.integers(min_value=0, max_value=2**40))
def test_byte_range_stays_inside_the_blob(header: str, size: int) -> None:
    try:
        window = byte_range("bytes=" + header, size)
    except RangeNotSatisfiable as refused:
        assert refused.size == size
        return
    if window is not None:
        start, end = window
        assert 0 <= start < end <= size


@FUZZ
@given(st.from_regex(r"bytes=[0-9]{0,25}-[0-9]{0,25}", fullmatch=True), st.integers(0, 2**40))
def test_byte_range_well_formed_headers(header: str, size: int) -> None:
    try:
        window = byte_range(header, size)
    except RangeNotSatisfiable:
        return
    if window is not None:
        assert 0 <= window[0] < window[1] <= size


@FUZZ
@given(st.text(max_size=140))
def test_digest_parse(text: str) -> None:
    try:
        digest = Digest.parse(text)
    except InvalidDigest:
        return
    assert str(digest) == text


@FUZZ
@given(st.binary(max_size=400) | JSON.map(lambda doc: json.dumps(doc).encode()))
def test_manifest_parse_of_anything(body: bytes) -> None:
    try:
        manifest = parse_manifest(body, OCI_MANIFEST)
    except ManifestInvalid:
        return
    assert manifest.media_type == OCI_MANIFEST


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(DESCRIPTOR_KEYS), JSON, max_size=6), max_size=5))
def test_manifest_with_hostile_descriptors(layers: list[dict[str, object]]) -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/json", "digest": "sha256:" + "0" * 64, "size": 2},
        "layers": layers,
    }
    try:
        manifest = parse_manifest(json.dumps(body).encode(), OCI_MANIFEST)
    except ManifestInvalid:
        return
    assert len(manifest.referenced) == len(layers) + 1


def test_descriptor_count_is_capped() -> None:
    layer = {"mediaType": "application/octet-stream", "digest": "sha256:" + "1" * 64, "size": 1}
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/json", "digest": "sha256:" + "0" * 64, "size": 2},
        "layers": [layer] * (MAX_DESCRIPTORS + 1),
    }
    with pytest.raises(ManifestInvalid, match="descriptors"):
        parse_manifest(json.dumps(body).encode(), OCI_MANIFEST)
    body["layers"] = [layer] * MAX_DESCRIPTORS
    assert len(parse_manifest(json.dumps(body).encode(), OCI_MANIFEST).layers) == MAX_DESCRIPTORS
