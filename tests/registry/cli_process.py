"""`artifact-store` run as a process, as an operator runs it; optionally without root's powers."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

TIMEOUT = 90
# prctl(2): drop a capability from the bounding set; what root keeps across exec is bounded by it.
PR_CAPBSET_DROP = 24
# capability(7): read or write any file whatever its mode; bind ports below 1024.
ROOT_POWERS = {"dac_override": 1, "dac_read_search": 2, "net_bind_service": 10}


def executable() -> str:
    found = shutil.which("artifact-store", path=str(Path(sys.executable).parent))
    return found or "artifact-store"


def without_root_powers() -> None:
    """In the child before exec: root without the capabilities that let it read and write
    any file and bind any port, so permissions fail for it as for any other user."""
    libc = ctypes.CDLL(None, use_errno=True)
    for number in ROOT_POWERS.values():
        if libc.prctl(PR_CAPBSET_DROP, number, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run(
    *args: str,
    env: dict[str, str] | None = None,
    unprivileged: bool = False,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """`artifact-store ARGS`; with `unprivileged`, as a user that file modes and the
    privileged ports apply to (a root test run drops root's capabilities)."""
    drop = without_root_powers if unprivileged and os.geteuid() == 0 else None
    return subprocess.run(
        [executable(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        preexec_fn=drop,  # the child execs right after: nothing else runs in it
    )
