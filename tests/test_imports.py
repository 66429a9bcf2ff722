"""Imports point one way: registry → storage → manifests; no HTTP below registry."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "storage": {"registry", "starlette", "hypercorn", "granian", "httpx"},
    "manifests": {
        "registry",
        "storage",
        "starlette",
        "hypercorn",
        "granian",
        "httpx",
        "sqlalchemy",
        "aiofiles",
    },
}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_downward(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    for path in files:
        bad = imported_roots(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_the_command_line_and_its_settings_leave_prometheus_client_unimported() -> None:
    """prometheus_client picks its multiprocess mode when first imported, so nothing the
    server's parent process runs before naming the metrics directory may import it."""
    script = (
        "import sys\n"
        "import registry.cli\n"
        "from registry.config import load\n"
        "from registry.proxy.upstreams import parse_upstreams\n"
        "load(None, {}, {})\n"
        "parse_upstreams(({'prefix': 'hub', 'url': 'https://registry-1.docker.io'},))\n"
        "print('prometheus_client' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "False"
