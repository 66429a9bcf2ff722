"""Helm 3 and Helm 4: charts as OCI artifacts (push, show, pull, template), by version and by
digest, two versions side by side, a signed chart with its provenance file, and sign-in under
Basic and token auth."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .auth_server import AuthServer, auth_server
from .charts import (
    HELM_CHART,
    HELM_CONFIG,
    HELM_PROVENANCE,
    Helm,
    chart_fields,
    reported_digest,
    signing_key,
)
from .commands import tool
from .images import OCI_MANIFEST, file_digest, sha256_digest
from .listings import catalog, tags
from .live_registry import Registry, fetch_manifest

pytestmark = pytest.mark.clients

CHART = "webapp"
# How helm words a 401: "401 Unauthorized", or oras-go's "basic credential not found".
DENIED = re.compile(r"401|unauthorized|credential not found", re.IGNORECASE)


@pytest.fixture(params=["helm3", "helm4"])
def helm(request: pytest.FixtureRequest, tmp_path: Path) -> Helm:
    return Helm(tool(request.param), tmp_path / "helm-home")


@pytest.fixture
def chart(helm: Helm, tmp_path: Path) -> Path:
    """The chart `helm create` writes (a Deployment, a Service, …), as a directory."""
    helm("create", CHART, cwd=tmp_path)
    return tmp_path / CHART


@pytest.fixture(scope="module", params=["basic", "token"])
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthServer]:
    with auth_server(tmp_path_factory.mktemp(f"helm-{request.param}"), request.param) as server:
        yield server


def pull(
    helm: Helm, ref: list[str], destination: Path, *extra: str | Path, check: bool = True
) -> tuple[subprocess.CompletedProcess[str], list[Path]]:
    """`helm pull` into a new directory: the command's result and the files it wrote."""
    destination.mkdir(parents=True)
    result = helm("pull", *ref, "--plain-http", "--destination", destination, *extra, check=check)
    return result, sorted(destination.iterdir())


def assert_pulls_back(helm: Helm, ref: list[str], package: Path, digest: str, out: Path) -> None:
    """`helm show chart` and `helm pull` of `ref` give the pushed chart, byte for byte."""
    version = package.name.removeprefix(f"{CHART}-").removesuffix(".tgz")
    shown = chart_fields(helm("show", "chart", *ref, "--plain-http").stdout)
    assert (shown["name"], shown["version"]) == (CHART, version)
    result, files = pull(helm, ref, out)
    assert reported_digest(result) == digest
    assert len(files) == 1, files
    assert files[0].read_bytes() == package.read_bytes()


def test_helm_push_show_pull_template(
    helm: Helm, registry: Registry, repo: Any, chart: Path, tmp_path: Path
) -> None:
    namespace = repo("charts")
    name, url = f"{namespace}/{CHART}", f"oci://{registry.host}/{namespace}/{CHART}"
    package = helm.package(chart, "0.1.0", tmp_path / "packages")
    digest = helm.push(package, f"oci://{registry.host}/{namespace}")

    body, media_type, header_digest = fetch_manifest(registry, name, "0.1.0")
    assert sha256_digest(body) == header_digest == digest
    assert media_type == OCI_MANIFEST
    manifest = json.loads(body)
    assert manifest["config"]["mediaType"] == HELM_CONFIG
    assert [
        (layer["mediaType"], layer["digest"], layer["size"]) for layer in manifest["layers"]
    ] == [(HELM_CHART, file_digest(package), package.stat().st_size)]
    assert manifest["annotations"]["org.opencontainers.image.title"] == CHART
    assert manifest["annotations"]["org.opencontainers.image.version"] == "0.1.0"

    assert_pulls_back(helm, [url, "--version", "0.1.0"], package, digest, tmp_path / "by-version")
    assert_pulls_back(helm, [f"{url}@{digest}"], package, digest, tmp_path / "by-digest")
    for ref in ([url, "--version", "0.1.0"], [f"{url}@{digest}"]):
        rendered = helm("template", "shop", *ref, "--plain-http", "--set", "replicaCount=3").stdout
        assert "kind: Deployment" in rendered
        assert "name: shop-webapp" in rendered
        assert "replicas: 3" in rendered

    assert name in catalog(registry)
    assert tags(registry, name) == ["0.1.0"]


def test_helm_two_versions(
    helm: Helm, registry: Registry, repo: Any, chart: Path, tmp_path: Path
) -> None:
    """Two versions in one repository; `+` in a chart version becomes `_` in its tag."""
    namespace = repo("charts")
    name, url = f"{namespace}/{CHART}", f"oci://{registry.host}/{namespace}/{CHART}"
    pushed = {}
    for version in ("0.1.0", "0.2.0+build.7"):
        package = helm.package(chart, version, tmp_path / "packages")
        pushed[version] = (package, helm.push(package, f"oci://{registry.host}/{namespace}"))
    assert pushed["0.1.0"][1] != pushed["0.2.0+build.7"][1]
    assert tags(registry, name) == ["0.1.0", "0.2.0_build.7"]

    for index, (version, (package, digest)) in enumerate(pushed.items()):
        assert_pulls_back(helm, [url, "--version", version], package, digest, tmp_path / str(index))
    # No --version: helm lists the tags and takes the highest version.
    latest = chart_fields(helm("show", "chart", url, "--plain-http").stdout)
    assert latest["version"] == "0.2.0+build.7"


def test_helm_provenance(
    helm: Helm, registry: Registry, repo: Any, chart: Path, tmp_path: Path
) -> None:
    """A chart signed by `helm package --sign` travels with its .prov and verifies after a pull;
    verifying with another key fails."""
    namespace = repo("charts")
    name, url = f"{namespace}/{CHART}", f"oci://{registry.host}/{namespace}/{CHART}"
    with signing_key(tmp_path / "signer") as key, signing_key(tmp_path / "other", "Other") as other:
        package = helm.package(
            chart, "1.0.0", tmp_path / "packages",
            "--sign", "--key", key.name, "--keyring", str(key.secring),
        )  # fmt: skip
        provenance = package.with_name(package.name + ".prov")
        assert "-----BEGIN PGP SIGNATURE-----" in provenance.read_text()
        digest = helm.push(package, f"oci://{registry.host}/{namespace}")

        body, _, _ = fetch_manifest(registry, name, "1.0.0")
        layers = {layer["mediaType"]: layer["digest"] for layer in json.loads(body)["layers"]}
        assert layers == {
            HELM_CHART: file_digest(package),
            HELM_PROVENANCE: file_digest(provenance),
        }

        ref = [url, "--version", "1.0.0"]
        pulled, files = pull(helm, ref, tmp_path / "with-prov", "--prov")
        assert reported_digest(pulled) == digest
        assert [f.name for f in files] == [package.name, provenance.name]
        assert [f.read_bytes() for f in files] == [package.read_bytes(), provenance.read_bytes()]

        verified, _ = pull(helm, ref, tmp_path / "verified", "--verify", "--keyring", key.pubring)
        assert "Signed by: Chart Signer" in verified.stdout + verified.stderr
        helm("verify", files[0], "--keyring", key.pubring)
        assert helm("verify", files[0], "--keyring", other.pubring, check=False).returncode != 0
        wrong, _ = pull(
            helm, ref, tmp_path / "wrong-key", "--verify", "--keyring", other.pubring, check=False
        )
        assert wrong.returncode != 0


def test_helm_registry_login(helm: Helm, secured: AuthServer, chart: Path, tmp_path: Path) -> None:
    """Under Basic and token auth: refused before `helm registry login`, and after a login
    with a wrong password; push, show, pull and template after a good one; refused after
    `helm registry logout`."""
    namespace = secured.repository("charts")
    url = f"oci://{secured.host}/{namespace}/{CHART}"
    package = helm.package(chart, "0.1.0", tmp_path / "packages")
    push: list[str | Path] = ["push", package, f"oci://{secured.host}/{namespace}", "--plain-http"]
    login: list[str | Path] = ["registry", "login", secured.host, "-u", secured.user]

    for refused in (
        helm(*push, check=False),
        helm(*login, "--password-stdin", "--plain-http", input=b"wrong", check=False),
    ):
        assert refused.returncode != 0
        assert DENIED.search(refused.stderr), refused.stderr
    helm(*login, "--password-stdin", "--plain-http", input=secured.password.encode())
    digest = reported_digest(helm(*push))

    assert_pulls_back(helm, [url, "--version", "0.1.0"], package, digest, tmp_path / "by-version")
    assert_pulls_back(helm, [f"{url}@{digest}"], package, digest, tmp_path / "by-digest")
    rendered = helm("template", "shop", url, "--version", "0.1.0", "--plain-http").stdout
    assert "name: shop-webapp" in rendered

    helm("registry", "logout", secured.host)
    refused = helm("show", "chart", url, "--version", "0.1.0", "--plain-http", check=False)
    assert refused.returncode != 0
    assert DENIED.search(refused.stderr), refused.stderr
