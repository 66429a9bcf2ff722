"""Coverage-guided fuzzing of the manifest parser (atheris, libFuzzer's engine), run by
tests/hostile/test_fuzz_manifest.py for a bounded time; by hand:

    .venv/bin/python tests/hostile/fuzz_manifest.py CORPUS_DIR -max_total_time=600

The first byte of an input picks the Content-Type the manifest is pushed with, the rest
is the body. Whatever the input, the parser answers a manifest that keeps its
invariants or raises ManifestInvalid; any other exception, a hang or a blown memory
limit is a crash that libFuzzer reports with the input that caused it.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from manifests.digest import Digest
    from manifests.mediatypes import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
    from manifests.parse import MAX_DESCRIPTORS, ManifestInvalid, parse_manifest

CONTENT_TYPES = (None, OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST, "text/plain")


def check(data: bytes) -> None:
    if not data:
        return
    content_type = CONTENT_TYPES[data[0] % len(CONTENT_TYPES)]
    try:
        manifest = parse_manifest(data[1:], content_type)
    except ManifestInvalid:
        return
    descriptors = [*manifest.layers, *manifest.children]
    assert len(descriptors) <= MAX_DESCRIPTORS
    if manifest.config is not None:
        descriptors.append(manifest.config)
    if manifest.subject is not None:
        descriptors.append(manifest.subject)
    for descriptor in descriptors:
        assert descriptor.size >= 0
        assert Digest.parse(str(descriptor.digest)) == descriptor.digest
        descriptor.to_json()


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
