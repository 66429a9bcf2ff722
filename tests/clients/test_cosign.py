"""Scenario 8: cosign key-pair signing without a transparency log (nothing leaves the machine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .commands import run, skopeo, tool
from .images import OciImage
from .live_registry import Registry, http_get

pytestmark = pytest.mark.clients

INSECURE = ["--allow-http-registry", "--allow-insecure-registry"]


class Cosign:
    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        # No TUF, no Sigstore public-good instance: keys only. HOME keeps its caches private.
        self.env = {
            "HOME": str(home),
            "COSIGN_PASSWORD": "artifact-store",
            "TUF_ROOT": str(home / "tuf"),
        }

    def __call__(self, *args: str | Path, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 180)
        return run([tool("cosign"), *args], env=self.env, cwd=self.home, **kwargs)

    def key_pair(self, prefix: str) -> tuple[Path, Path]:
        self("generate-key-pair", "--output-key-prefix", prefix)
        return self.home / f"{prefix}.key", self.home / f"{prefix}.pub"


def test_cosign_sign_verify(
    registry: Registry, repo: Any, tmp_path: Path, small_oci_image: OciImage
) -> None:
    cosign = Cosign(tmp_path / "cosign")
    key, pub = cosign.key_pair("signer")
    _, other_pub = cosign.key_pair("other")

    name = repo()
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        small_oci_image.oci_ref,
        f"docker://{registry.host}/{name}:v1",
    )
    image = f"{registry.host}/{name}@{small_oci_image.manifest_digest}"

    cosign("sign", "--key", key, "--tlog-upload=false", *INSECURE, "--yes", image)
    verified = json.loads(
        cosign("verify", "--key", pub, "--insecure-ignore-tlog", *INSECURE, image).stdout
    )
    assert len(verified) == 1
    assert (
        verified[0]["critical"]["image"]["docker-manifest-digest"]
        == small_oci_image.manifest_digest
    )

    # cosign keeps the signature under the digest tag sha256-<hex>.sig.
    status, _, body = http_get(registry, f"/v2/{name}/tags/list")
    assert status == 200
    sig_tag = small_oci_image.manifest_digest.replace(":", "-") + ".sig"
    assert sig_tag in json.loads(body)["tags"]

    # Another key does not verify it.
    wrong = cosign(
        "verify", "--key", other_pub, "--insecure-ignore-tlog", *INSECURE, image, check=False
    )
    assert wrong.returncode != 0

    # An attestation (in-toto, SPDX predicate) verifies as well.
    predicate = tmp_path / "cosign" / "sbom.spdx.json"
    predicate.write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": "artifact-store-test"}))
    cosign(
        "attest", "--key", key, "--tlog-upload=false", *INSECURE, "--yes",
        "--type", "spdxjson", "--predicate", predicate, image,
    )  # fmt: skip
    attested = cosign(
        "verify-attestation", "--key", pub, "--insecure-ignore-tlog", *INSECURE,
        "--type", "spdxjson", image,
    ).stdout  # fmt: skip
    statements = [json.loads(line) for line in attested.splitlines() if line.strip()]
    assert statements and all(
        s["payloadType"] == "application/vnd.in-toto+json" for s in statements
    )
