"""Real servers for the hostile tests: one on a small tmpfs of its own, and its RSS."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import LiveServer, free_port, missing_tool, wait_until_serving


def serve_on_tmpfs(
    root: Path, size: str, *extra: str, seed: Path | None = None, fill: bool = False
) -> LiveServer:
    """A server whose data directory is a tmpfs of `size`, mounted in a mount namespace of
    its own (unshare): a disk that really fills up, with no privilege over the host. With
    `seed`, the data directory starts as a copy of it; with `fill`, the file `root/fill`
    takes every byte left before the server starts."""
    if shutil.which("unshare") is None:
        missing_tool("unshare (util-linux) is not installed")
    root.mkdir(parents=True, exist_ok=True)
    host = f"127.0.0.1:{free_port()}"
    exe = shutil.which("artifact-store", path=str(Path(sys.executable).parent)) or "artifact-store"
    data = root / "data"
    steps = f'cp -a "{seed}" "{data}" && ' if seed else ""
    if fill:  # dd ends when the disk is full: its failure is the point
        steps += f'{{ dd if=/dev/zero of="{root}/fill" bs=4k 2>/dev/null; true; }} && '
    mount = f'mount -t tmpfs -o size="$1" tmpfs "$2" && {steps}shift 2 && exec "$@"'
    command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount, "sh"]
    serve = [exe, "serve", "--addr", host, "--data-dir", str(data), *extra]
    with open(root.parent / f"{root.name}.log", "ab") as log:
        process = subprocess.Popen(
            [*command, size, str(root), *serve], stdout=log, stderr=subprocess.STDOUT
        )
    wait_until_serving(f"http://{host}", process)
    return LiveServer(host, data, process)


def inside(server: LiveServer, path: Path) -> Path:
    """`path` as the server's mount namespace sees it (its tmpfs, not the host's directory)."""
    assert server.process is not None
    return Path(f"/proc/{server.process.pid}/root") / path.relative_to("/")


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of the processes together (VmRSS from /proc)."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (worker processes of the server)."""
    found = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found += process_tree(int(child))
    return found
