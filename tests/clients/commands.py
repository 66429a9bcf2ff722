"""Running the client tools: where each tool is found, and commands with a timeout.

The tools come from `make clients` (scripts/setup-clients.sh): Go tools in
$TOOLS_DIR/bin, the rest from Debian. A missing tool skips its test, or fails it
under CI=true. Everything runs through `run()`, which has a timeout and, on
failure, shows the command's output and what the registry under test saw.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

from . import live_registry

CI = os.environ.get("CI") == "true"
TOOLS_BIN = Path(os.environ.get("TOOLS_DIR", Path.home() / ".cache" / "artifact-store")) / "bin"

_OUTPUT_TAIL_CHARS = 4000


class CommandFailed(AssertionError):
    pass


def skip_or_fail(message: str) -> NoReturn:
    """Skips the test, or fails it under CI=true, where every tool must be present."""
    if CI:
        pytest.fail(message)
    pytest.skip(message)


def tool(name: str) -> str:
    """Path of a client tool: $TOOLS_DIR/bin first, then PATH. Skips (fails under CI) if absent."""
    candidate = TOOLS_BIN / name
    path = str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
    path = path or shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} is not installed (run `make clients`)")
    return path


def docker_cli() -> str:
    """The docker CLI of Debian's docker.io (matching its dockerd), else whatever is on PATH."""
    if os.access("/usr/bin/docker", os.X_OK):
        return "/usr/bin/docker"
    return tool("docker")


def run(
    cmd: Sequence[str | Path],
    *,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    check: bool = True,
    input: bytes | None = None,
    cwd: Path | str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs a client command with a timeout; a failure shows its output and the server log."""
    argv = [str(c) for c in cmd]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            input=input,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(
            _failure(f"timed out after {timeout}s", argv, exc.stdout, exc.stderr)
        ) from None
    result = subprocess.CompletedProcess(
        argv, proc.returncode, _text(proc.stdout), _text(proc.stderr)
    )
    if check and proc.returncode != 0:
        raise CommandFailed(_failure(f"exit {proc.returncode}", argv, result.stdout, result.stderr))
    return result


def run_json(cmd: Sequence[str | Path], **kwargs: Any) -> Any:
    out = run(cmd, **kwargs).stdout
    try:
        return json.loads(out)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"not JSON from {' '.join(map(str, cmd))}: {out[:2000]!r}") from exc


def skopeo(
    *args: str | Path, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run([tool("skopeo"), *args], timeout=timeout, check=check)


def _failure(
    what: str, argv: list[str], stdout: str | bytes | None, stderr: str | bytes | None
) -> str:
    return (
        f"{what}: {' '.join(argv)}\n"
        f"stdout: {_tail(stdout)}\nstderr: {_tail(stderr)}\n{_registry_diagnostics()}"
    )


def _text(data: bytes) -> str:
    return data.decode(errors="replace")


def _tail(data: str | bytes | None, limit: int = _OUTPUT_TAIL_CHARS) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        data = _text(data)
    return data if len(data) <= limit else "..." + data[-limit:]


def _registry_diagnostics() -> str:
    registry = live_registry.current_registry
    return registry.diagnostics() if registry is not None else ""
