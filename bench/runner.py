"""A run: start the servers, prepare, warm up, then rounds with the servers interleaved.

Round r runs every workload on every server in turn, the server order rotated
by r so no server always goes first (A B C D, then B C D A, ...). Round 0 is
the warm-up and is left out of the figures.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import servers
from bench.probe import Attach, Probe
from bench.servers import Peer, RunningServer
from bench.workloads import Shared, Sizes, Target, Workload


@dataclass(frozen=True)
class Plan:
    sizes: Sizes
    rounds: int
    warmup: bool
    workloads: tuple[Workload, ...]
    peers: tuple[Peer, ...]
    work_parent: Path | None = None  # where the fresh work directory goes (default: $TMPDIR)
    keep_work: bool = False
    # (pid, output file) -> a context recording a profile of artifact-store around a block
    profiler: Callable[[int, Path], AbstractContextManager[None]] | None = None
    profile_dir: Path | None = None


@dataclass
class Sample:
    round: int
    workload: str
    server: str
    figures: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    error: str | None = None


@dataclass
class Outcome:
    samples: list[Sample]
    versions: dict[str, str]
    missing: list[str]
    started: float
    finished: float

    def as_json(self) -> dict[str, Any]:
        return {
            "samples": [asdict(sample) for sample in self.samples],
            "versions": self.versions,
            "missing": self.missing,
        }


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def execute(plan: Plan) -> Outcome:
    started = time.time()
    found = {peer.key: peer.find() for peer in plan.peers}
    missing = [key for key, binary in found.items() if binary is None]
    for key in missing:
        say(f"{key} is not installed (bench/setup-peers.sh); left out")
    with _work_dir(plan) as work, _servers(plan.peers, found, work) as running:
        shared = Shared.create(work, plan.sizes)
        with contextlib.ExitStack() as stack:
            targets = [_target(server, plan, shared, stack) for server in running]
            samples = _rounds(plan, targets)
        versions = {server.key: server.version for server in running}
    return Outcome(samples, versions, missing, started, time.time())


@contextlib.contextmanager
def _work_dir(plan: Plan) -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix="artifact-store-bench-", dir=plan.work_parent))
    try:
        yield work
    finally:
        if plan.keep_work:
            say(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def _servers(
    peers: tuple[Peer, ...], found: dict[str, str | None], work: Path
) -> Iterator[list[RunningServer]]:
    running: list[RunningServer] = []
    try:
        for peer in peers:
            binary = found[peer.key]
            if binary is not None:
                running.append(servers.start(peer, binary, work))
                say(f"{peer.key} on {running[-1].url}: {running[-1].version}")
        yield running
    finally:
        for server in running:
            server.stop()


def _target(
    server: RunningServer, plan: Plan, shared: Shared, stack: contextlib.ExitStack
) -> Target:
    http = stack.enter_context(httpx.Client(base_url=server.url, timeout=600))
    return Target(server, plan.sizes, shared, Probe(server.process.pid), http)


def _rounds(plan: Plan, targets: list[Target]) -> list[Sample]:
    failed_prepare = _prepare(plan, targets)
    samples = []
    for number in range(0 if plan.warmup else 1, plan.rounds + 1):
        for workload in plan.workloads:
            for target in targets[number % len(targets) :] + targets[: number % len(targets)]:
                if not target.server.peer.runs(workload.name):
                    continue
                target.round = number
                broken = failed_prepare.get((workload.name, target.server.key))
                samples.append(_sample(plan, workload, target, broken))
    return samples


def _prepare(plan: Plan, targets: list[Target]) -> dict[tuple[str, str], str]:
    failed = {}
    for workload in plan.workloads:
        for target in targets:
            if workload.prepare is None or not target.server.peer.runs(workload.name):
                continue
            try:
                workload.prepare(target)
            except Exception as exc:
                failed[(workload.name, target.server.key)] = f"prepare: {exc}"
                say(f"{workload.name} on {target.server.key}: prepare failed: {exc}")
    return failed


def _sample(plan: Plan, workload: Workload, target: Target, broken: str | None) -> Sample:
    sample = Sample(target.round, workload.name, target.server.key, error=broken)
    if broken:
        return sample
    target.probe.attach = _profiler(plan, workload, target)
    try:
        sample.figures = workload.run(target)
    except Exception as exc:
        sample.error = f"{type(exc).__name__}: {exc}"
    spent = target.probe.last
    sample.wall_s, sample.server_cpu_s = spent.wall_s, spent.server_cpu_s
    sample.client_cpu_s = spent.client_cpu_s
    shown = ", ".join(f"{name} {value:.4g}" for name, value in sample.figures.items())
    label = "warm-up" if target.warmup else f"round {target.round}"
    say(f"{label} {workload.name} {target.server.key}: {sample.error or shown}")
    return sample


def _profiler(plan: Plan, workload: Workload, target: Target) -> Attach | None:
    if plan.profiler is None or plan.profile_dir is None or target.warmup:
        return None
    if target.server.key != servers.SUBJECT:
        return None
    profiler, pid = plan.profiler, target.server.process.pid
    output = plan.profile_dir / f"{workload.name}-r{target.round}.txt"
    return lambda: profiler(pid, output)
