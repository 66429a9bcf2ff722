"""The manifest parser under coverage-guided fuzzing for a bounded time
(tests/hostile/fuzz_manifest.py), from a corpus of real manifests of every kind:
libFuzzer exits non-zero, with the crashing input saved, when the parser raises
anything but ManifestInvalid, breaks an invariant, hangs or runs out of memory."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from manifests.mediatypes import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from tests.hostile.fuzz_manifest import CONTENT_TYPES

HARNESS = Path(__file__).with_name("fuzz_manifest.py")
SECONDS = 20
# Tokens libFuzzer splices into inputs: the keys and values a manifest is made of.
TOKENS = [
    "schemaVersion", "mediaType", "config", "layers", "manifests", "subject", "digest",
    "size", "annotations", "artifactType", "platform", "urls", "sha256:", "sha512:",
    "blake3:", OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, "{", "}", "[", "]", ":", ",",
    "\\u0000", "\\ud800", "1e400", "-1", "null", "true",
]  # fmt: skip


def descriptor(content: bytes, media_type: str) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    return {"mediaType": media_type, "digest": digest, "size": len(content)}


def seeds() -> dict[str, bytes]:
    config = descriptor(b"{}", "application/vnd.oci.image.config.v1+json")
    layer = descriptor(b"layer", "application/vnd.oci.image.layer.v1.tar+gzip")
    image = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
    child = descriptor(json.dumps(image).encode(), OCI_MANIFEST)
    platform = {"architecture": "amd64", "os": "linux"}
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{**child, "platform": platform}],
    }
    artifact = {**image, "artifactType": "application/example", "subject": child,
                "annotations": {"org.opencontainers.image.created": "2026-12-02"}}  # fmt: skip
    docker = {**image, "mediaType": DOCKER_MANIFEST}
    documents = {
        "image": (image, OCI_MANIFEST),
        "index": (index, OCI_INDEX),
        "artifact": (artifact, OCI_MANIFEST),
        "docker": (docker, DOCKER_MANIFEST),
    }
    return {
        name: bytes([CONTENT_TYPES.index(kind)]) + json.dumps(doc).encode()
        for name, (doc, kind) in documents.items()
    }


def test_the_manifest_parser_survives_fuzzing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, data in seeds().items():
        (corpus / name).write_bytes(data)
    tokens = tmp_path / "manifest.dict"
    tokens.write_text("".join(f"{json.dumps(token)}\n" for token in TOKENS))
    command = [
        sys.executable, str(HARNESS), str(corpus), f"-dict={tokens}",
        f"-max_total_time={SECONDS}", "-timeout=10", "-rss_limit_mb=2048", "-max_len=65536",
        f"-artifact_prefix={tmp_path}/", "-print_final_stats=1",
    ]  # fmt: skip
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        command, cwd=root, capture_output=True, text=True, timeout=SECONDS + 120,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    crashes = sorted(
        p.name for p in tmp_path.iterdir() if p.name.startswith(("crash", "timeout", "oom"))
    )
    assert done.returncode == 0 and not crashes, f"{crashes}\n{done.stderr[-4000:]}"
    assert "stat::number_of_executed_units" in done.stderr  # it really ran
