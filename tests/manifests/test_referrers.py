from __future__ import annotations

import json

import pytest

from manifests.digest import Digest
from manifests.mediatypes import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST
from manifests.parse import Descriptor, Manifest, parse_manifest
from manifests.referrers import referrer_descriptor, referrers_index

D1 = Digest.parse("sha256:" + "1" * 64)
D2 = Digest.parse("sha256:" + "2" * 64)
SBOM = "application/spdx+json"
SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"


def artifact(artifact_type: str | None, config_type: str = OCI_EMPTY) -> Manifest:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": str(D1), "size": 2},
        "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": str(D2), "size": 9},
        "annotations": {"org.example": "yes"},
    }
    if artifact_type is not None:
        doc["artifactType"] = artifact_type
    return parse_manifest(json.dumps(doc).encode(), OCI_MANIFEST)


@pytest.mark.parametrize(
    ("manifest", "artifact_type"),
    [
        pytest.param(artifact(SBOM), SBOM, id="artifact-type"),
        pytest.param(artifact(None, SIGNATURE), SIGNATURE, id="config-media-type"),
        pytest.param(artifact(None), OCI_EMPTY, id="empty-config"),
    ],
)
def test_referrer_descriptor(manifest: Manifest, artifact_type: str) -> None:
    descriptor = referrer_descriptor(manifest, D1, 321, OCI_MANIFEST)
    assert descriptor == Descriptor(
        OCI_MANIFEST, D1, 321, artifact_type=artifact_type, annotations={"org.example": "yes"}
    )


@pytest.mark.parametrize(
    ("descriptors", "expected"),
    [
        pytest.param([], [], id="empty"),
        pytest.param(
            [Descriptor(OCI_MANIFEST, D1, 5)],
            [{"mediaType": OCI_MANIFEST, "digest": str(D1), "size": 5}],
            id="bare",
        ),
        pytest.param(
            [
                Descriptor(OCI_MANIFEST, D1, 5, artifact_type=SBOM, annotations={"k": "v"}),
                Descriptor(OCI_INDEX, D2, 6, platform={"os": "linux"}),
            ],
            [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": str(D1),
                    "size": 5,
                    "artifactType": SBOM,
                    "annotations": {"k": "v"},
                },
                {"mediaType": OCI_INDEX, "digest": str(D2), "size": 6, "platform": {"os": "linux"}},
            ],
            id="optional-fields",
        ),
    ],
)
def test_referrers_index(descriptors: list[Descriptor], expected: list[object]) -> None:
    body = referrers_index(descriptors)
    assert json.loads(body) == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": expected}
    assert b" " not in body


def test_referrers_index_parses_as_an_index() -> None:
    body = referrers_index([referrer_descriptor(artifact(SBOM), D1, 10, OCI_MANIFEST)])
    index = parse_manifest(body, OCI_INDEX)
    assert index.is_index
    assert index.children[0].artifact_type == SBOM


def test_referrers_index_escapes_non_ascii() -> None:
    descriptor = Descriptor(OCI_MANIFEST, D1, 1, annotations={"title": "größe"})
    body = referrers_index([descriptor])
    assert body.isascii()
    assert json.loads(body)["manifests"][0]["annotations"] == {"title": "größe"}
