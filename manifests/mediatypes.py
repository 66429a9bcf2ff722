"""Manifest media types the registry accepts, and the RFC 6838 media type grammar."""

from __future__ import annotations

import re

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES
DOCKER_TYPES = frozenset({DOCKER_MANIFEST, DOCKER_LIST})

MAX_MANIFEST_BYTES = 4 * 1024 * 1024

# restricted-name from RFC 6838 section 4.2, as the image-spec descriptor schema spells it.
_RESTRICTED_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = re.compile(f"{_RESTRICTED_NAME}/{_RESTRICTED_NAME}")


def is_valid_media_type(text: str) -> bool:
    return _MEDIA_TYPE.fullmatch(text) is not None


def is_non_distributable(media_type: str) -> bool:
    """Layers that may live elsewhere (their `urls`); a registry need not hold them."""
    return "nondistributable" in media_type or media_type.startswith(
        "application/vnd.docker.image.rootfs.foreign."
    )
