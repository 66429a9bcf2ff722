"""py-spy attached to artifact-store during measured blocks, and a summary of what it saw.

`python -m bench --profile DIR` writes one collapsed-stack file per workload and
round (DIR/<workload>-r<round>.txt) and a summary beside it; figures from a
profiled run are perturbed and are never written to the docs.
`python -m bench.profiling FILE...` prints the summary of existing files.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

RATE = 100
PY_SPY = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
ATTACH_WAIT = 1.0
IDLE_FRAMES = (
    "epoll_wait",
    "epoll_pwait",
    "_queue_SimpleQueue_get",
    "PyThread_acquire_lock_timed",
    "Condition.wait",
)
_LINE = re.compile(r" \(([^)]*?):\d+\)$")


def py_spy(pid: int, output: Path) -> AbstractContextManager[None]:
    return _recording(pid, output)


@contextlib.contextmanager
def _recording(pid: int, output: Path) -> Iterator[None]:
    # Blocking samples with native frames: where C code (hashing, copies, the uvloop loop)
    # spends the time, and idle threads told apart from busy ones.
    # --subprocesses: the worker processes, where the requests are served.
    argv = [PY_SPY, "record", "--pid", str(pid), "--subprocesses", "--format", "raw"]
    argv += ["--threads", "--native"]
    argv += ["--rate", str(RATE), "--output", str(output)]
    with open(output.with_suffix(".log"), "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    time.sleep(ATTACH_WAIT)
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def frame_name(frame: str) -> str:
    """`update (storage/hashing.py:52)` -> `update (storage/hashing.py)`: lines merged."""
    match = _LINE.search(frame)
    if not match:
        return frame
    path = match[1]
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in path:
            path = path.rpartition(marker)[2]
    return f"{frame[: match.start()]} ({path})"


def read_stacks(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(frame_name(f) for f in stack.split(";"))] += int(count)
    return stacks


def is_idle(stack: tuple[str, ...]) -> bool:
    """Threads waiting for work or events: py-spy samples them as if they ran."""
    return any(frame.startswith(IDLE_FRAMES) for frame in stack)


def summary(stacks: Counter[tuple[str, ...]], top: int = 12) -> str:
    idle = sum(count for stack, count in stacks.items() if is_idle(stack))
    stacks = Counter({stack: count for stack, count in stacks.items() if not is_idle(stack)})
    total = sum(stacks.values()) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames = [f for f in stack if not f.startswith(("thread ", "process "))]
        threads[stack[0] if stack and stack[0].startswith("thread ") else "?"] += count
        if frames:
            own[_attributed(frames)] += count
        for name in set(frames):
            inclusive[name] += count
    lines = [f"{total} busy samples at {RATE} Hz ({total / RATE:.1f} s), {idle} idle, by thread:"]
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in threads.most_common(6)]
    lines.append("self time (the frame on top; native code with the Python frame that called it):")
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in own.most_common(top)]
    lines.append("inclusive time (anywhere on the stack):")
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in inclusive.most_common(top)]
    return "\n".join(lines)


def _attributed(frames: list[str]) -> str:
    """The top frame, and for native code the Python frame that called into it."""
    leaf = frames[-1]
    if ".py)" in leaf:
        return leaf
    caller = next((f for f in reversed(frames) if ".py)" in f), None)
    return f"{leaf} <- {caller}" if caller else leaf


def summarize_files(paths: Sequence[Path]) -> str:
    parts = []
    for path in paths:
        if path.exists():
            parts.append(f"== {path.name}\n{summary(read_stacks(path))}")
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profiling")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    for path in args.files:
        print(f"== {path}\n{summary(read_stacks(path), args.top)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
