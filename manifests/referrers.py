"""The referrers API answer: an OCI image index of descriptors of manifests with a subject."""

from __future__ import annotations

import json
from collections.abc import Sequence

from manifests.digest import Digest
from manifests.mediatypes import OCI_INDEX
from manifests.parse import Descriptor, Manifest


def referrers_index(descriptors: Sequence[Descriptor]) -> bytes:
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor.to_json() for descriptor in descriptors],
    }
    return json.dumps(index, separators=(",", ":")).encode("ascii")


def referrer_descriptor(
    manifest: Manifest, digest: Digest, size: int, media_type: str
) -> Descriptor:
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        artifact_type=manifest.referrer_artifact_type,
        annotations=manifest.annotations,
    )
