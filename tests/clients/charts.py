"""Helm for the client tests: one helm binary with its own homes, Helm's OCI media types, and a
throwaway GPG key to sign charts with.

Every `Helm` keeps its configuration, cache, data and registry credentials in its own
directory, so a `helm registry login` in one test is invisible to every other test and
to the machine's ~/.config/helm.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .commands import run, tool

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_PROVENANCE = "application/vnd.cncf.helm.chart.provenance.v1.prov"

_DIGEST = re.compile(r"^Digest: (sha256:[0-9a-f]{64})$", re.MULTILINE)


@dataclass(frozen=True)
class Helm:
    """One helm binary (`helm3`, `helm4`) run with homes under `home`."""

    binary: str
    home: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_DATA_HOME": str(self.home / "data"),
            "HELM_REGISTRY_CONFIG": str(self.home / "registry.json"),
        }

    def __call__(self, *args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run([self.binary, *args], env=self.env, **kwargs)

    def package(self, chart: Path, version: str, destination: Path, *extra: str) -> Path:
        """`helm package --version VERSION`: the path of the .tgz it wrote."""
        self("package", chart, "--version", version, "--destination", destination, *extra)
        return destination / f"{chart.name}-{version}.tgz"

    def push(self, package: Path, namespace_url: str) -> str:
        """`helm push PACKAGE oci://HOST/NAMESPACE --plain-http`: the manifest digest."""
        result = self("push", package, namespace_url, "--plain-http")
        return reported_digest(result)


def reported_digest(result: subprocess.CompletedProcess[str]) -> str:
    """The `Digest: sha256:…` line helm prints after a push or a pull."""
    found = _DIGEST.search(result.stdout + result.stderr)
    assert found, f"no digest in helm's output:\n{result.stdout}\n{result.stderr}"
    return found.group(1)


def chart_fields(chart_yaml: str) -> dict[str, str]:
    """The top-level `key: value` scalars of a Chart.yaml as `helm show chart` prints it."""
    fields = {}
    for line in chart_yaml.splitlines():
        key, sep, value = line.partition(": ")
        if sep and not key.startswith((" ", "-")):
            fields[key] = value.strip()
    return fields


@dataclass(frozen=True)
class SigningKey:
    """A throwaway GPG key: `secring` for `helm package --sign`, `pubring` to verify."""

    name: str
    secring: Path
    pubring: Path


@contextlib.contextmanager
def signing_key(directory: Path, name: str = "Chart Signer") -> Iterator[SigningKey]:
    """An RSA signing key without passphrase, made in a temporary GNUPGHOME (short path: the
    gpg-agent socket lives there) whose agent is stopped afterwards."""
    gpg = tool("gpg")
    directory.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="as-gpg-"))
    env = {"GNUPGHOME": str(home)}
    try:
        run(
            [gpg, "--batch", "--passphrase", "", "--quick-gen-key",
             f"{name} <signer@example.com>", "rsa2048", "sign", "never"],
            env=env,
        )  # fmt: skip
        key = SigningKey(name, directory / "secring.gpg", directory / "pubring.gpg")
        run([gpg, "--batch", "--output", key.secring, "--export-secret-keys"], env=env)
        run([gpg, "--batch", "--output", key.pubring, "--export"], env=env)
        yield key
    finally:
        if gpgconf := shutil.which("gpgconf"):
            subprocess.run(
                [gpgconf, "--kill", "gpg-agent"],
                env={**os.environ, **env},
                capture_output=True,
                timeout=30,
                check=False,
            )
        shutil.rmtree(home, ignore_errors=True)
