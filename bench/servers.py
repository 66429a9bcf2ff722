"""The servers under test: configuration, start and stop, CPU and memory of their processes.

Every server listens on 127.0.0.1 on a free port, keeps its data in a fresh
directory under the run's work directory (so on the same disk for all), logs at
warning level, and verifies sha256 on every push (all four do by design).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

REFERENCE = "distribution-2.8.2"
SUBJECT = "artifact-store"
# The same registry on the other server it supports, and with 1, 2 and 4 worker processes
# on the request-rate workloads (how throughput grows with cores).
OTHER_SERVER = "artifact-store-hypercorn"
SCALING_WORKERS = (1, 2, 4)
REQUEST_RATE = ("small-blobs", "manifest-get", "manifest-head", "tags-list")
TOOLS_BIN = Path(os.environ.get("TOOLS_DIR", Path.home() / ".cache" / "artifact-store")) / "bin"

DISTRIBUTION_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: {addr}
"""


@dataclass(frozen=True)
class Peer:
    key: str  # column name in the table and the JSON
    binary: str  # a name looked up on PATH and in $TOOLS_DIR/bin, or an absolute path
    argv: Callable[[str, str, Path], list[str]]  # (binary, addr, data dir) -> command
    version_argv: tuple[str, ...]
    quiet: bool = False  # logs every request whatever it is told: send the log to /dev/null
    workloads: tuple[str, ...] | None = None  # the workloads it runs; None: every one
    workers: int | None = None  # set on the artifact-store columns of the scaling table

    def runs(self, workload: str) -> bool:
        return self.workloads is None or workload in self.workloads

    def find(self) -> str | None:
        return shutil.which(self.binary) or shutil.which(self.binary, path=str(TOOLS_BIN))

    def version(self, binary: str) -> str:
        out = subprocess.run(
            [binary, *self.version_argv], capture_output=True, text=True, timeout=30, check=False
        )
        words = (out.stdout or out.stderr).split("\n", 1)[0].split()
        if words and "/" in words[0] and Path(words[0]).name == Path(binary).name:
            words = words[1:]  # distribution prints its own path first
        return " ".join(words)


def _distribution(binary: str, addr: str, data: Path) -> list[str]:
    config = data.parent / f"{data.name}.yml"
    config.write_text(DISTRIBUTION_CONFIG.format(data=data, addr=addr))
    return [binary, "serve", str(config)]


def _crane(binary: str, addr: str, data: Path) -> list[str]:
    return [binary, "registry", "serve", "--address", addr]  # in memory, as the protocol says


def _artifact_store(*options: str) -> Callable[[str, str, Path], list[str]]:
    def argv(binary: str, addr: str, data: Path) -> list[str]:
        # Defaults but `options`; warning level as for every server (no access log).
        serve = [binary, "serve", "--addr", addr, "--data-dir", str(data)]
        return [*serve, "--log-level", "warning", *options]

    return argv


def scaling_key(workers: int) -> str:
    return f"{SUBJECT}-{workers}w"


ARTIFACT_STORE = str(Path(sys.executable).parent / "artifact-store")
PEERS = (
    Peer(REFERENCE, "docker-registry", _distribution, ("--version",)),
    Peer("distribution-v3", "registry-v3", _distribution, ("--version",)),
    Peer("crane", "crane", _crane, ("version",), quiet=True),
    Peer(SUBJECT, ARTIFACT_STORE, _artifact_store(), ()),
    Peer(OTHER_SERVER, ARTIFACT_STORE, _artifact_store("--server", "hypercorn"), ()),
    *(
        Peer(
            scaling_key(n),
            ARTIFACT_STORE,
            _artifact_store("--workers", str(n)),
            (),
            workloads=REQUEST_RATE,
            workers=n,
        )
        for n in SCALING_WORKERS
    ),
)


@dataclass
class RunningServer:
    peer: Peer
    host: str  # 127.0.0.1:PORT
    data: Path
    process: subprocess.Popen[bytes]
    version: str

    @property
    def key(self) -> str:
        return self.peer.key

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(peer: Peer, binary: str, work: Path) -> RunningServer:
    """Start the peer; once more if it exits at once (another process took the free port)."""
    try:
        return _start_once(peer, binary, work / peer.key)
    except ServerExited:
        return _start_once(peer, binary, work / f"{peer.key}-again")


class ServerExited(RuntimeError):
    pass


def _start_once(peer: Peer, binary: str, data: Path) -> RunningServer:
    work = data.parent
    data.mkdir(parents=True)
    host = f"127.0.0.1:{free_port()}"
    with open(os.devnull if peer.quiet else work / f"{data.name}.log", "ab") as log:
        process = subprocess.Popen(
            peer.argv(binary, host, data), stdout=log, stderr=subprocess.STDOUT, cwd=work
        )
    version = peer.version(binary) if peer.version_argv else _own_version()
    server = RunningServer(peer, host, data, process, version)
    try:
        _wait_until_serving(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_serving(server: RunningServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerExited(f"{server.key} exited with {server.process.returncode}")
        try:
            if httpx.get(f"{server.url}/v2/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.key} did not answer on {server.url} within {timeout}s")


def _own_version() -> str:
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        ["git", "-C", str(root), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return f"artifact-store {out.stdout.strip() or 'unknown'}"


# --- what a server process uses ----------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            queue.extend(int(child) for child in task.read_text().split())
    return pids


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def reset_peak_rss(pids: list[int]) -> bool:
    """Start a new VmHWM window (Linux clear_refs 5); False where that is not allowed."""
    try:
        for pid in pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def rss_mib(pids: list[int], field: str) -> float:
    """VmHWM (peak) or VmRSS (current) of the processes, added up, in MiB."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                total += int(line.split()[1])
    return total / 1024
