"""deploy/: every file parses, is valid for its tool, and uses only settings the
registry documents; the image builds with buildah and runs the registry."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from registry import config
from registry.app import routes
from tests.conftest import ROOT, free_port, missing_tool

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
# Settings the registry documents (`artifact-store serve --help`), as variables.
SETTINGS = {config.ENV_PREFIX + name.upper() for name in config.DESCRIPTIONS}
# The standard AWS credential chain the S3 backend reads (docs/operations.md).
AWS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
IMAGE = "localhost/artifact-store:latest"
PROBES = {route.path for route in routes if route.name in ("liveness", "readiness")}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def kubernetes() -> dict[str, dict[str, Any]]:
    """Every manifest by kind (one of each here)."""
    docs = [doc for path in sorted(KUBERNETES.glob("*.yaml")) for doc in documents(path)]
    return {doc["kind"]: doc for doc in docs}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def registry_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose()["services"].items() if s.get("image") == IMAGE}


def pod_template() -> dict[str, Any]:
    spec: dict[str, Any] = kubernetes()["Deployment"]["spec"]["template"]
    return spec


def check_documented(names: set[str]) -> None:
    unknown = names - SETTINGS - AWS
    assert not unknown, f"settings the registry does not document: {sorted(unknown)}"


@pytest.mark.parametrize(
    "path", sorted(DEPLOY.rglob("*.yaml")), ids=lambda p: str(p.relative_to(DEPLOY))
)
def test_yaml_files_parse(path: Path) -> None:
    assert documents(path)
    for doc in documents(path) if path.parent == KUBERNETES else []:
        assert {"apiVersion", "kind"} <= set(doc), path
        assert doc["kind"] == "Kustomization" or doc["metadata"]["name"], path


def test_kubernetes_settings_are_documented() -> None:
    manifests = kubernetes()
    check_documented(set(manifests["ConfigMap"]["data"]))
    for pod in (pod_template(), manifests["Job"]["spec"]["template"]):
        for container in pod["spec"]["containers"]:
            check_documented({variable["name"] for variable in container.get("env", [])})


def test_compose_settings_are_documented() -> None:
    for service in registry_services().values():
        check_documented(set(service["environment"]))


def test_containerfile_settings_are_documented() -> None:
    text = (DEPLOY / "Containerfile").read_text().replace("\\\n", " ")
    names = {
        m for line in re.findall(r"^ENV (.*)$", text, re.M) for m in re.findall(r"(\w+)=", line)
    }
    check_documented(names - {"PATH"})


def test_systemd_settings_are_documented() -> None:
    unit = (DEPLOY / "systemd" / "artifact-store.service").read_text()
    check_documented(set(re.findall(r"^Environment=(\w+)=", unit, re.M)))
    toml_file = DEPLOY / "systemd" / "config.toml"
    assert set(tomllib.loads(toml_file.read_text())) <= set(config.DESCRIPTIONS)
    config.load(toml_file, {}, {})  # and the registry accepts it


def test_the_deployment_runs_two_probed_replicas_of_the_image() -> None:
    manifests = kubernetes()
    deployment, pod = manifests["Deployment"], pod_template()
    assert deployment["spec"]["replicas"] >= 2
    (container,) = pod["spec"]["containers"]
    ports = {port["name"] for port in container["ports"]}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert container[probe]["httpGet"]["path"] == path
        assert container[probe]["httpGet"]["port"] in ports
    assert {"/readyz", "/healthz"} == PROBES
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["image"] == IMAGE


def test_service_and_disruption_budget_select_the_pods() -> None:
    manifests = kubernetes()
    labels = pod_template()["metadata"]["labels"]
    selectors = [
        manifests["Service"]["spec"]["selector"],
        manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        manifests["Deployment"]["spec"]["selector"]["matchLabels"],
    ]
    for selector in selectors:
        assert selector.items() <= labels.items()
    assert manifests["PodDisruptionBudget"]["spec"]["minAvailable"] >= 1
    target = manifests["Service"]["spec"]["ports"][0]["targetPort"]
    assert target in {p["name"] for p in pod_template()["spec"]["containers"][0]["ports"]}


def test_secret_and_config_map_references_resolve() -> None:
    manifests = kubernetes()
    secret = documents(KUBERNETES / "secret.example.yaml")[0]
    for pod in (pod_template(), manifests["Job"]["spec"]["template"]):
        for container in pod["spec"]["containers"]:
            for variable in container.get("env", []):
                ref = variable["valueFrom"]["secretKeyRef"]
                assert (ref["name"], ref["key"] in secret["stringData"]) == (
                    secret["metadata"]["name"],
                    True,
                )
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] == manifests["ConfigMap"]["metadata"]["name"]


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    listed = set(documents(KUBERNETES / "kustomization.yaml")[0]["resources"])
    present = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present - {"secret.example.yaml"}


def test_compose_runs_two_replicas_postgres_s3_and_nginx() -> None:
    services = compose()["services"]
    replicas = registry_services()
    serving = {n for n, s in replicas.items() if "command" not in s and "entrypoint" not in s}
    assert len(serving) >= 2
    assert all(s["build"]["dockerfile"] == "deploy/Containerfile" for s in replicas.values())
    assert {"postgres", "seaweedfs", "nginx"} <= set(services)
    upstreams = re.findall(r"^\s*server ([\w.-]+):(\d+)", (DEPLOY / "nginx.conf").read_text(), re.M)
    port = next(iter(replicas.values()))["environment"]["ARTIFACT_STORE_ADDR"].rsplit(":", 1)[1]
    assert sorted(upstreams) == sorted((name, port) for name in serving)
    for name in serving:
        url = replicas[name]["environment"]["ARTIFACT_STORE_METADATA_URL"]
        assert url.startswith("postgresql://") and "@postgres:" in url
    seaweed = json.loads((DEPLOY / "seaweedfs-s3.json").read_text())
    keys = seaweed["identities"][0]["credentials"][0]
    environment = next(iter(replicas.values()))["environment"]
    assert keys["accessKey"] in environment["AWS_ACCESS_KEY_ID"]
    assert keys["secretKey"] in environment["AWS_SECRET_ACCESS_KEY"]


def test_nginx_config_is_valid(nginx: str, tmp_path: Path) -> None:
    text = (DEPLOY / "nginx.conf").read_text()
    text = re.sub(r"server registry-\d+:5000", lambda _: f"server 127.0.0.1:{free_port()}", text)
    (tmp_path / "nginx.conf").write_text(
        text.replace("listen 8080", f"listen 127.0.0.1:{free_port()}")
    )
    command = [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    done = subprocess.run(
        [*command, "-e", str(tmp_path / "error.log"), "-g", f"pid {tmp_path / 'nginx.pid'};"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        missing_tool("systemd-analyze is not installed: run `make scaleout-tools`")
    assert analyze is not None
    installed = str(Path(sys.executable).parent / "artifact-store")
    unit = (DEPLOY / "systemd" / "artifact-store.service").read_text()
    copy = tmp_path / "artifact-store.service"
    copy.write_text(unit.replace("/opt/artifact-store/bin/artifact-store", installed))
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr.strip()) == (0, "")


def test_containerfile_runs_unprivileged_with_a_healthcheck() -> None:
    text = (DEPLOY / "Containerfile").read_text().replace("\\\n", " ")
    instructions = dict(re.findall(r"^([A-Z]+) (.*)$", text, re.M))
    assert instructions["USER"].split(":")[0] not in ("0", "root")
    assert any(probe in instructions["HEALTHCHECK"] for probe in PROBES)
    assert json.loads(instructions["ENTRYPOINT"]) == ["artifact-store"]
    for source in re.findall(r"^COPY (.*) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path


@pytest.mark.image
def test_image_builds_with_buildah_and_runs_the_registry() -> None:
    buildah = shutil.which("buildah")
    if buildah is None:
        missing_tool("buildah is not installed: run `make scaleout-tools`")
    tools = Path(os.environ.get("TOOLS_DIR", Path.home() / ".cache/artifact-store"))
    env = {**os.environ, "BOOTSTRAP_BASE": "1", "BUILDAH_ROOT": str(tools / "containers")}
    built = subprocess.run(
        ["bash", str(DEPLOY / "build-image.sh"), IMAGE],
        capture_output=True,
        text=True,
        timeout=1500,
        env=env,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    storage = [
        "--root",
        f"{env['BUILDAH_ROOT']}/storage",
        "--runroot",
        f"{env['BUILDAH_ROOT']}/run",
    ]
    base = [str(buildah), *storage]
    inspected = json.loads(run([*base, "inspect", "--type", "image", IMAGE]))
    image_config = inspected["Docker"]["config"]
    assert image_config["User"] == "10001:10001"
    assert "/readyz" in " ".join(image_config["Healthcheck"]["Test"])
    container = run([*base, "from", "--quiet", IMAGE]).strip()
    try:
        migrated = run(
            [
                *base,
                "run",
                "--isolation",
                "chroot",
                container,
                "--",
                "artifact-store",
                "migrate",
                "--data-dir",
                "/tmp/data",
            ]
        )
        assert "is at revision" in migrated
        identity = run([*base, "run", "--isolation", "chroot", container, "--", "id", "-u"])
        assert identity.strip() == "10001"
    finally:
        run([*base, "rm", container])


def run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    return done.stdout
