"""Parse and validate OCI and Docker schema2 image manifests and indexes.

``parse_manifest`` turns request bytes into a ``Manifest`` or raises
``ManifestInvalid``; no other exception escapes, whatever the bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from manifests.digest import Digest, InvalidDigest
from manifests.mediatypes import (
    DOCKER_TYPES,
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    OCI_MANIFEST,
    is_valid_media_type,
)

MAX_SIZE = 2**63 - 1  # descriptor sizes are int64 in the image-spec
# Descriptors in one list (layers, manifests): far past any image (overlay stacks at most
# 128 layers) and any index, short of what makes one push hold the metadata writer long.
MAX_DESCRIPTORS = 10_000


class ManifestInvalid(ValueError):
    """The bytes are not a manifest this registry accepts; ``str(exc)`` says why."""


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    # Mappings stay out of the hash so descriptors can sit in sets (equality still compares them).
    annotations: Mapping[str, str] | None = field(default=None, hash=False)
    platform: Mapping[str, object] | None = field(default=None, hash=False)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        if self.annotations is not None:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = dict(self.platform)
        return out


@dataclass(frozen=True, slots=True)
class Manifest:
    media_type: str
    artifact_type: str | None
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    children: tuple[Descriptor, ...]
    subject: Descriptor | None
    annotations: Mapping[str, str] | None = field(hash=False)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def referenced(self) -> tuple[Descriptor, ...]:
        """What must already exist in the repository; the subject need not."""
        if self.config is None:
            return self.children
        return (self.config, *self.layers)

    @property
    def referrer_artifact_type(self) -> str | None:
        if self.artifact_type is not None:
            return self.artifact_type
        return self.config.media_type if self.config is not None else None


def parse_manifest(body: bytes, content_type: str | None) -> Manifest:
    doc = _load(body)
    if not _is_int(doc.get("schemaVersion"), 2):
        raise ManifestInvalid("schemaVersion must be the integer 2")
    media_type = _effective_media_type(doc, content_type)
    config, layers, children = _contents(doc, media_type)
    return Manifest(
        media_type=media_type,
        artifact_type=_optional_media_type(doc, "artifactType", ""),
        config=config,
        layers=layers,
        children=children,
        subject=_descriptor(doc["subject"], "subject") if "subject" in doc else None,
        annotations=_annotations(doc, ""),
    )


def _contents(
    doc: Mapping[str, object], media_type: str
) -> tuple[Descriptor | None, tuple[Descriptor, ...], tuple[Descriptor, ...]]:
    """Config, layers and children; an image has the first two, an index only children."""
    if media_type in INDEX_TYPES:
        _forbid(doc, ("config", "layers"), media_type)
        return None, (), _descriptors(_require_in(doc, "manifests", ""), "manifests")
    _forbid(doc, ("manifests",), media_type)
    config = _descriptor(_require_in(doc, "config", ""), "config")
    return config, _descriptors(_require_in(doc, "layers", ""), "layers"), ()


def _load(body: bytes) -> dict[str, object]:
    if len(body) > MAX_MANIFEST_BYTES:
        raise ManifestInvalid(f"manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        doc = json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_unique_keys,
            parse_constant=_reject_constant,
        )
    except UnicodeDecodeError as exc:
        raise ManifestInvalid(f"manifest is not UTF-8: {exc.reason}") from None
    except RecursionError:
        raise ManifestInvalid("manifest JSON is nested too deeply") from None
    except ManifestInvalid:
        raise
    except ValueError as exc:  # JSONDecodeError, and ints beyond the digit limit
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    _require_unicode(doc)
    return _object(doc, "manifest")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # Two parsers could pick different values for a repeated key; refuse the ambiguity.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ManifestInvalid("manifest JSON repeats a key in one object")
    return obj


def _reject_constant(name: str) -> object:
    raise ManifestInvalid(f"manifest JSON contains {name}, which JSON does not allow")


def _require_unicode(doc: object) -> None:
    # json accepts lone surrogate escapes ("\ud800"); such strings cannot be stored or re-encoded.
    pending = [doc]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and not _encodes(value):
            raise ManifestInvalid("manifest JSON contains a lone surrogate escape")


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _effective_media_type(doc: Mapping[str, object], content_type: str | None) -> str:
    header = _bare_content_type(content_type)
    if "mediaType" in doc:
        declared = doc["mediaType"]
        if not isinstance(declared, str) or declared not in MANIFEST_TYPES:
            raise ManifestInvalid(f"unsupported manifest mediaType {_show(declared)}")
        if header in MANIFEST_TYPES and header != declared:
            raise ManifestInvalid(f"Content-Type {header} contradicts mediaType {declared}")
        return declared
    if header in DOCKER_TYPES:
        raise ManifestInvalid(f"a {header} manifest must carry a mediaType field")
    if header in MANIFEST_TYPES:
        return header
    if "manifests" in doc:
        return OCI_INDEX
    if "config" in doc:
        return OCI_MANIFEST
    raise ManifestInvalid("cannot tell the manifest type: no mediaType, config or manifests")


def _bare_content_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _forbid(doc: Mapping[str, object], keys: tuple[str, ...], media_type: str) -> None:
    for key in keys:
        if key in doc:
            raise ManifestInvalid(f"a {media_type} manifest must not have {key}")


def _descriptors(value: object, where: str) -> tuple[Descriptor, ...]:
    if not isinstance(value, list):
        raise ManifestInvalid(f"{where} must be a list")
    if len(value) > MAX_DESCRIPTORS:
        raise ManifestInvalid(f"{where} has more than {MAX_DESCRIPTORS} descriptors")
    return tuple(_descriptor(item, f"{where}[{i}]") for i, item in enumerate(value))


def _descriptor(value: object, where: str) -> Descriptor:
    obj = _object(value, where)
    media_type = _optional_media_type(obj, "mediaType", where)
    if media_type is None:
        raise ManifestInvalid(f"{_path(where, 'mediaType')} is required")
    _urls(obj, where)
    return Descriptor(
        media_type=media_type,
        digest=_digest(_require_in(obj, "digest", where), _path(where, "digest")),
        size=_size(_require_in(obj, "size", where), _path(where, "size")),
        artifact_type=_optional_media_type(obj, "artifactType", where),
        annotations=_annotations(obj, where),
        platform=_platform(obj, where),
    )


def _require_in(obj: Mapping[str, object], key: str, where: str) -> object:
    if key not in obj:
        raise ManifestInvalid(f"{_path(where, key)} is required")
    return obj[key]


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _optional_media_type(obj: Mapping[str, object], key: str, where: str) -> str | None:
    if key not in obj:
        return None
    value = obj[key]
    if not isinstance(value, str) or not is_valid_media_type(value):
        raise ManifestInvalid(f"{_path(where, key)} is not a valid media type: {_show(value)}")
    return value


def _digest(value: object, where: str) -> Digest:
    if not isinstance(value, str):
        raise ManifestInvalid(f"{where} must be a string")
    try:
        return Digest.parse(value)
    except InvalidDigest:
        raise ManifestInvalid(f"{where} is not a supported digest: {_show(value)}") from None


def _size(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SIZE:
        raise ManifestInvalid(f"{where} must be a non-negative integer: {_show(value)}")
    return value


def _annotations(obj: Mapping[str, object], where: str) -> dict[str, str] | None:
    if "annotations" not in obj:
        return None
    where = _path(where, "annotations")
    value = _object(obj["annotations"], where)
    strings = {k: v for k, v in value.items() if isinstance(v, str)}
    if len(strings) != len(value):
        raise ManifestInvalid(f"{where} values must be strings")
    return strings


def _platform(obj: Mapping[str, object], where: str) -> dict[str, object] | None:
    if "platform" not in obj:
        return None
    return _object(obj["platform"], _path(where, "platform"))


def _urls(obj: Mapping[str, object], where: str) -> None:
    value = obj.get("urls", [])
    if not isinstance(value, list) or not all(isinstance(url, str) for url in value):
        raise ManifestInvalid(f"{_path(where, 'urls')} must be a list of strings")


def _object(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} must be a JSON object")
    return value


def _is_int(value: object, expected: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value == expected


def _show(value: object) -> str:
    """A short rendering of a bad value for the error detail; the input may be huge."""
    if not isinstance(value, str | int | float | bool | None):
        return type(value).__name__
    text = json.dumps(value)
    return text if len(text) <= 80 else f"{text[:77]}..."
