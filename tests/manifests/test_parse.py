from __future__ import annotations

import contextlib
import json
import random
from typing import Any

import pytest

from manifests.digest import Digest
from manifests.mediatypes import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    MAX_MANIFEST_BYTES,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    is_valid_media_type,
)
from manifests.parse import Descriptor, Manifest, ManifestInvalid, parse_manifest

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SBOM = "application/spdx+json"


def desc(media_type: str, digest: object = D1, size: object = 7, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def image(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": desc(OCI_CONFIG, D1),
        "layers": [desc(OCI_LAYER, D2, 100)],
    }
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not ...}


def index(**fields: Any) -> dict[str, Any]:
    child = desc(OCI_MANIFEST, D3, 500, platform={"architecture": "amd64", "os": "linux"})
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child]}
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not ...}


def encode(doc: object) -> bytes:
    return json.dumps(doc).encode()


def nested(depth: int) -> bytes:
    return b'{"schemaVersion": 2, "x": ' + b"[" * depth + b"]" * depth + b"}"


OCI_IMAGE = Manifest(
    media_type=OCI_MANIFEST,
    artifact_type=None,
    config=Descriptor(OCI_CONFIG, Digest.parse(D1), 7),
    layers=(Descriptor(OCI_LAYER, Digest.parse(D2), 100),),
    children=(),
    subject=None,
    annotations=None,
)


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        pytest.param(encode(image()), OCI_MANIFEST, OCI_IMAGE, id="oci-image"),
        pytest.param(encode(image()), None, OCI_IMAGE, id="oci-image-no-content-type"),
        pytest.param(
            encode(image()),
            "Application/VND.oci.image.manifest.v1+json; charset=utf-8",
            OCI_IMAGE,
            id="content-type-case-and-parameters",
        ),
        pytest.param(
            encode(image()), "application/json", OCI_IMAGE, id="unrelated-content-type-ignored"
        ),
        pytest.param(encode(image(mediaType=...)), None, OCI_IMAGE, id="inferred-image"),
        pytest.param(
            encode(image(mediaType=...)), OCI_MANIFEST, OCI_IMAGE, id="image-type-from-header"
        ),
        pytest.param(
            encode(image(layers=[])),
            OCI_MANIFEST,
            Manifest(OCI_MANIFEST, None, OCI_IMAGE.config, (), (), None, None),
            id="no-layers",
        ),
    ],
)
def test_parse_image(body: bytes, content_type: str | None, expected: Manifest) -> None:
    manifest = parse_manifest(body, content_type)
    assert manifest == expected
    assert not manifest.is_index
    assert manifest.referenced == (expected.config, *expected.layers)


def test_oci_index() -> None:
    manifest = parse_manifest(encode(index(annotations={"a": "b"})), OCI_INDEX)
    child = Descriptor(
        OCI_MANIFEST, Digest.parse(D3), 500, platform={"architecture": "amd64", "os": "linux"}
    )
    assert manifest == Manifest(OCI_INDEX, None, None, (), (child,), None, {"a": "b"})
    assert manifest.is_index
    assert manifest.referenced == (child,)
    assert manifest.referrer_artifact_type is None


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(encode(index(mediaType=...)), None, id="inferred"),
        pytest.param(encode(index(mediaType=...)), OCI_INDEX, id="from-header"),
        pytest.param(encode(index(manifests=[])), OCI_INDEX, id="empty"),
    ],
)
def test_index_variants(body: bytes, content_type: str | None) -> None:
    manifest = parse_manifest(body, content_type)
    assert manifest.media_type == OCI_INDEX
    assert manifest.is_index


def test_docker_schema2() -> None:
    doc = image(
        mediaType=DOCKER_MANIFEST,
        config=desc(DOCKER_CONFIG, D1),
        layers=[desc(DOCKER_LAYER, D2, 9, urls=["https://example.com/layer"])],
    )
    manifest = parse_manifest(encode(doc), DOCKER_MANIFEST)
    assert manifest.media_type == DOCKER_MANIFEST
    assert manifest.referenced == (
        Descriptor(DOCKER_CONFIG, Digest.parse(D1), 7),
        Descriptor(DOCKER_LAYER, Digest.parse(D2), 9),
    )
    assert manifest.referrer_artifact_type == DOCKER_CONFIG


def test_docker_list() -> None:
    children = [desc(DOCKER_MANIFEST, D1, 1, platform={"architecture": "arm64", "os": "linux"})]
    manifest = parse_manifest(encode(index(mediaType=DOCKER_LIST, manifests=children)), None)
    assert manifest.media_type == DOCKER_LIST
    assert manifest.is_index
    assert [str(child.digest) for child in manifest.referenced] == [D1]


def test_artifact_with_empty_config_and_subject() -> None:
    doc = image(
        artifactType=SBOM,
        config=desc(OCI_EMPTY, "sha256:" + "4" * 64, 2),
        layers=[desc(SBOM, D2, 10, annotations={"org.opencontainers.image.title": "sbom"})],
        subject=desc(OCI_MANIFEST, D3, 500),
        annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    )
    manifest = parse_manifest(encode(doc), OCI_MANIFEST)
    assert manifest.artifact_type == SBOM
    assert manifest.referrer_artifact_type == SBOM
    assert manifest.subject == Descriptor(OCI_MANIFEST, Digest.parse(D3), 500)
    assert manifest.annotations == {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
    assert manifest.layers[0].annotations == {"org.opencontainers.image.title": "sbom"}
    assert manifest.subject not in manifest.referenced


def test_empty_config_without_artifact_type() -> None:
    manifest = parse_manifest(encode(image(config=desc(OCI_EMPTY, D1, 2))), None)
    assert manifest.artifact_type is None
    assert manifest.referrer_artifact_type == OCI_EMPTY


def test_index_with_subject_and_artifact_type() -> None:
    doc = index(artifactType=SBOM, subject=desc(OCI_MANIFEST, D1, 3))
    manifest = parse_manifest(encode(doc), OCI_INDEX)
    assert manifest.referrer_artifact_type == SBOM
    assert manifest.subject is not None
    assert manifest.subject not in manifest.referenced


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        pytest.param(b"not json", None, "not valid JSON", id="not-json"),
        pytest.param(b"", None, "not valid JSON", id="empty"),
        pytest.param(b"[]", None, "must be a JSON object", id="json-array"),
        pytest.param(b"null", None, "must be a JSON object", id="json-null"),
        pytest.param(b'{"schemaVersion": 2, "x": "\xff"}', None, "UTF-8", id="invalid-utf8"),
        pytest.param(b"\xef\xbb\xbf{}", None, "not valid JSON", id="utf8-bom"),
        pytest.param(encode(image()).decode().encode("utf-16"), None, "UTF-8", id="utf16"),
        pytest.param(nested(100_000), None, "nested too deeply", id="deeply-nested"),
        pytest.param(
            b'{"schemaVersion": 2, "x": "\\ud800"}', None, "surrogate", id="lone-surrogate"
        ),
        pytest.param(b'{"schemaVersion": NaN}', None, "NaN", id="nan"),
        pytest.param(b'{"size": ' + b"9" * 5000 + b"}", None, "JSON", id="huge-int"),
        pytest.param(
            b'{"schemaVersion": 2, "schemaVersion": 2}', None, "repeats a key", id="duplicate-key"
        ),
        pytest.param(
            b" " * MAX_MANIFEST_BYTES + encode(image()), None, "larger than", id="too-large"
        ),
        pytest.param(encode(image(schemaVersion=1)), None, "schemaVersion", id="schema-v1"),
        pytest.param(encode(image(schemaVersion="2")), None, "schemaVersion", id="schema-str"),
        pytest.param(encode(image(schemaVersion=2.0)), None, "schemaVersion", id="schema-float"),
        pytest.param(encode(image(schemaVersion=...)), None, "schemaVersion", id="schema-missing"),
        pytest.param(
            encode(image()), OCI_INDEX, "contradicts mediaType", id="contradicting-content-type"
        ),
        pytest.param(
            encode(image(mediaType="application/json")), None, "unsupported", id="unknown-type"
        ),
        pytest.param(encode(image(mediaType=3)), None, "unsupported", id="media-type-not-str"),
        pytest.param(
            encode(image(mediaType=...)), DOCKER_MANIFEST, "mediaType field", id="docker-untyped"
        ),
        pytest.param(
            encode({"schemaVersion": 2, "layers": []}), None, "cannot tell", id="untyped-shapeless"
        ),
        pytest.param(encode(image(config=...)), None, "config is required", id="missing-config"),
        pytest.param(encode(image(layers=...)), None, "layers is required", id="missing-layers"),
        pytest.param(encode(image(layers={})), None, "layers must be a list", id="layers-object"),
        pytest.param(encode(image(config=[])), None, "config must be", id="config-list"),
        pytest.param(encode(image(manifests=[])), None, "must not have", id="image-children"),
        pytest.param(encode(index(layers=[])), None, "must not have", id="index-layers"),
        pytest.param(encode(index(manifests=...)), None, "manifests is required", id="no-children"),
        pytest.param(
            encode(index(mediaType=..., config={})), None, "must not have", id="untyped-both"
        ),
        pytest.param(
            encode(image(layers=[desc(OCI_LAYER, "sha256:abc")])),
            None,
            "layers[0].digest",
            id="bad-digest",
        ),
        pytest.param(
            encode(image(layers=[desc(OCI_LAYER, "md5:" + "a" * 32)])),
            None,
            "layers[0].digest",
            id="unknown-algorithm",
        ),
        pytest.param(
            encode(image(layers=[desc(OCI_LAYER, "sha256:" + "A" * 64)])),
            None,
            "layers[0].digest",
            id="uppercase-hex",
        ),
        pytest.param(
            encode(image(layers=[desc(OCI_LAYER, 5)])), None, "must be a string", id="digest-int"
        ),
        pytest.param(
            encode(image(config={"mediaType": OCI_CONFIG, "size": 1})),
            None,
            "config.digest is required",
            id="missing-digest",
        ),
        pytest.param(encode(image(config=desc(OCI_CONFIG, size=-1))), None, "size", id="neg-size"),
        pytest.param(encode(image(config=desc(OCI_CONFIG, size=True))), None, "size", id="bool"),
        pytest.param(encode(image(config=desc(OCI_CONFIG, size="7"))), None, "size", id="str-size"),
        pytest.param(encode(image(config=desc(OCI_CONFIG, size=7.0))), None, "size", id="float"),
        pytest.param(encode(image(config=desc(OCI_CONFIG, size=2**63))), None, "size", id="big"),
        pytest.param(
            encode(image(config={"digest": D1, "size": 1})),
            None,
            "config.mediaType is required",
            id="descriptor-without-media-type",
        ),
        pytest.param(
            encode(image(config=desc("not a media type"))), None, "media type", id="bad-media-type"
        ),
        pytest.param(
            encode(image(artifactType="sbom")), None, "artifactType", id="bad-artifact-type"
        ),
        pytest.param(
            encode(image(config=desc(OCI_CONFIG, artifactType=1))),
            None,
            "config.artifactType",
            id="descriptor-artifact-type-int",
        ),
        pytest.param(
            encode(image(annotations={"a": 1})), None, "annotations values", id="annotation-int"
        ),
        pytest.param(
            encode(image(annotations=["a"])), None, "annotations must be", id="annotations-list"
        ),
        pytest.param(
            encode(image(layers=[desc(OCI_LAYER, annotations={"a": None})])),
            None,
            "layers[0].annotations",
            id="descriptor-annotation-null",
        ),
        pytest.param(
            encode(index(manifests=[desc(OCI_MANIFEST, platform="linux/amd64")])),
            None,
            "manifests[0].platform",
            id="platform-string",
        ),
        pytest.param(
            encode(image(layers=[desc(OCI_LAYER, urls="https://x")])), None, "urls", id="urls-str"
        ),
        pytest.param(encode(image(layers=[desc(OCI_LAYER, urls=[1])])), None, "urls", id="url-int"),
        pytest.param(encode(image(subject="sha256:x")), None, "subject must be", id="subject-str"),
        pytest.param(
            encode(image(subject=desc(OCI_MANIFEST, "x"))), None, "subject.digest", id="subject-bad"
        ),
        pytest.param(encode(image(layers=[None])), None, "layers[0] must be", id="layer-null"),
    ],
)
def test_invalid(body: bytes, content_type: str | None, detail: str) -> None:
    with pytest.raises(ManifestInvalid) as caught:
        parse_manifest(body, content_type)
    assert detail in str(caught.value)


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        pytest.param(OCI_MANIFEST, True, id="oci-manifest"),
        pytest.param("text/plain", True, id="simple"),
        pytest.param("application/vnd.a!#$&^_.+-b", True, id="all-restricted-chars"),
        pytest.param("a/" + "b" * 127, True, id="longest-subtype"),
        pytest.param("a/" + "b" * 128, False, id="subtype-too-long"),
        pytest.param("application", False, id="no-subtype"),
        pytest.param("application/", False, id="empty-subtype"),
        pytest.param("/json", False, id="empty-type"),
        pytest.param("application/-json", False, id="subtype-starts-with-dash"),
        pytest.param("application/json; charset=utf-8", False, id="parameters"),
        pytest.param("application/json\n", False, id="trailing-newline"),
        pytest.param("application/js on", False, id="space"),
        pytest.param("a/b/c", False, id="two-slashes"),
        pytest.param("applicatión/json", False, id="non-ascii"),
    ],
)
def test_is_valid_media_type(text: str, valid: bool) -> None:
    assert is_valid_media_type(text) is valid


SEEDS = [image(), index(), image(subject=desc(OCI_MANIFEST)), image(mediaType=DOCKER_MANIFEST)]
ODD_VALUES: list[object] = [None, True, -1, 2, 2.5, "", D1, OCI_MANIFEST, [], {}, [{}], {"a": 1}]
ODD_BYTES = [b"[", b"{", b'"', b"-1", b"true", b"null", b"\\u", b",", b"\xff", b"\\ud800"]


def mutate_structure(rng: random.Random) -> bytes:
    """Swap one value deep inside a valid manifest for a value of another JSON type."""
    doc = json.loads(encode(rng.choice(SEEDS)))
    node = doc
    while isinstance(node, dict | list) and node:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = rng.choice(keys)
        if rng.random() < 0.4 or not isinstance(node[key], dict | list):
            node[key] = rng.choice(ODD_VALUES)
            break
        node = node[key]
    return encode(doc)


def mutate_bytes(rng: random.Random) -> bytes:
    body = bytearray(encode(rng.choice(SEEDS)))
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(body))
        choice = rng.random()
        if choice < 0.4:
            body[at] = rng.randrange(32, 127)
        elif choice < 0.6:
            del body[at : at + rng.randint(1, 20)]
        elif choice < 0.9:
            body[at:at] = rng.choice(ODD_BYTES)
        else:
            body[at:at] = rng.randbytes(rng.randint(1, 10))
    return bytes(body)


def random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(0, 64))


def test_random_bytes_only_raise_manifest_invalid() -> None:
    rng = random.Random(20240601)
    content_types = [None, OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, "", ";", "x/y; a=b"]
    makers = [mutate_structure, mutate_bytes, random_bytes]
    for _ in range(500):
        body = rng.choice(makers)(rng)
        with contextlib.suppress(ManifestInvalid):
            parse_manifest(body, rng.choice(content_types))


def test_descriptors_and_manifests_are_hashable() -> None:
    manifest = parse_manifest(encode(index(annotations={"a": "b"})), None)
    assert len({manifest, manifest}) == 1
    assert manifest.children[0] in set(manifest.referenced)
