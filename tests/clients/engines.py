"""The container engines the tests pull with: a private dockerd, a private containerd and
podman on its own storage, each keeping every file below one short temporary directory."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .commands import run, skip_or_fail, tool

_SOCKET_POLL_SECONDS = 0.2
_LOG_TAIL_LINES = 40


@dataclass
class Dockerd:
    cli: str
    env: dict[str, str]
    root: Path
    log: Path

    def docker(
        self, *args: str | Path, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run([self.cli, *args], env=self.env, timeout=timeout, check=check)


@dataclass
class Containerd:
    address: Path
    root: Path
    log: Path
    namespace: str = "artifact-store-tests"

    def ctr(
        self, *args: str | Path, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run(
            [tool("ctr"), "--address", self.address, "--namespace", self.namespace, *args],
            env={"CONTAINERD_SNAPSHOTTER": "native"},
            timeout=timeout,
            check=check,
        )


@dataclass
class Podman:
    root: Path

    def __call__(
        self, *args: str | Path, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run(
            [
                tool("podman"),
                "--root", self.root / "storage",
                "--runroot", self.root / "run",
                "--storage-driver", "vfs",
                "--cgroup-manager", "cgroupfs",
                "--events-backend", "file",
                "--tmpdir", self.root / "tmp",
                *args,
            ],
            env={
                "REGISTRY_AUTH_FILE": str(self.root / "auth.json"),
                "TMPDIR": str(self.root / "tmp"),
            },
            timeout=timeout,
            check=check,
        )  # fmt: skip

    def inspect(self, ref: str) -> dict[str, Any]:
        data = json.loads(self("image", "inspect", ref).stdout)
        assert isinstance(data, list) and len(data) == 1, data
        return data[0]  # type: ignore[no-any-return]


def dockerd_command(binary: str, root: Path, sock: Path, insecure_registry: str) -> list[str]:
    """dockerd with its own data-root, exec-root, socket and pidfile; vfs; no iptables and
    no bridge."""
    return [
        binary,
        "--config-file", str(root / "daemon.json"),
        "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"),
        "--pidfile", str(root / "docker.pid"),
        "--host", f"unix://{sock}",
        "--storage-driver=vfs",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-masq=false",
        "--bridge=none",
        "--insecure-registry", insecure_registry,
        "--log-level", "info",
    ]  # fmt: skip


def containerd_config(root: Path, address: Path) -> str:
    """containerd 1.6 config (version 2): everything below root, no CRI, native snapshotter."""
    disabled = [
        "io.containerd.grpc.v1.cri",
        "io.containerd.snapshotter.v1.aufs",
        "io.containerd.snapshotter.v1.btrfs",
        "io.containerd.snapshotter.v1.devmapper",
        "io.containerd.snapshotter.v1.zfs",
        "io.containerd.snapshotter.v1.overlayfs",
    ]
    return "\n".join(
        [
            "version = 2",
            f'root = "{root}/root"',
            f'state = "{root}/state"',
            f"disabled_plugins = {json.dumps(disabled)}",
            "[grpc]",
            f'  address = "{address}"',
            "[ttrpc]",
            f'  address = "{address}.ttrpc"',
            "[debug]",
            f'  address = "{root}/debug.sock"',
            "[metrics]",
            '  address = ""',
            '[plugins."io.containerd.internal.v1.opt"]',
            f'  path = "{root}/opt"',
            "",
        ]
    )


def short_temp_dir(prefix: str) -> Path:
    """A fresh directory with a short absolute path: unix socket paths must stay under 108
    bytes."""
    return Path(tempfile.mkdtemp(prefix=f"as-{prefix}-", dir="/tmp"))


@contextlib.contextmanager
def running_daemon(name: str, argv: list[str], sock: Path, root: Path) -> Iterator[Path]:
    """Runs a daemon that keeps its files below root until the block ends, giving the path of
    its log; skips (fails under CI) if it does not listen on sock. Afterwards it is stopped,
    whatever it mounted below root is unmounted, and root is removed."""
    log = root / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        try:
            wait_for_socket(sock, process, log)
        except RuntimeError as exc:
            skip_or_fail(f"{name} cannot run here: {exc}")
        yield log
    finally:
        stop_daemon(process)
        remove_engine_root(root)


def remove_engine_root(root: Path) -> None:
    unmount_below(root)
    shutil.rmtree(root, ignore_errors=True)


def wait_for_socket(
    path: Path, process: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> None:
    """Waits until the process accepts connections on the unix socket at path."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{_program(process)} exited with {process.returncode}:\n{_file_tail(log)}"
            )
        if path.exists() and _accepts_connections(path):
            return
        time.sleep(_SOCKET_POLL_SECONDS)
    raise RuntimeError(
        f"{_program(process)} did not listen on {path} within {timeout}s:\n{_file_tail(log)}"
    )


def _accepts_connections(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
        return True


def stop_daemon(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not exited within timeout seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def unmount_below(root: Path) -> None:
    """Unmounts anything a daemon left mounted below root (deepest first)."""
    prefix = str(root.resolve()) + "/"
    with open("/proc/self/mounts") as f:
        targets = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, timeout=30, check=False)


def _program(process: subprocess.Popen[bytes]) -> str:
    args = process.args
    first = args[0] if isinstance(args, list | tuple) else args
    return os.fsdecode(first)  # type: ignore[arg-type]


def _file_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
