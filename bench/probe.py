"""What one measured block cost: wall time, server and client CPU, server peak RSS.

Server CPU is read from /proc for the server's process tree; client CPU is this
process plus the children it waited for (curl, wrk, skopeo) over the block.
Peak RSS uses the kernel's VmHWM after resetting it (clear_refs 5); where that
is not allowed, a sampler polls VmRSS every 20 ms instead.
"""

from __future__ import annotations

import contextlib
import resource
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

from bench.servers import cpu_seconds, process_tree, reset_peak_rss, rss_mib

SAMPLE_EVERY = 0.02


@dataclass
class Measurement:
    wall_s: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    peak_rss_mib: float = 0.0
    started: float = 0.0

    def elapsed(self) -> float:
        """Seconds since the block began, read inside it."""
        return time.perf_counter() - self.started


class RssSampler:
    def __init__(self, pids: list[int]) -> None:
        self._pids = pids
        self._stop = threading.Event()
        self.peak = rss_mib(pids, "VmRSS")
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self.peak = max(self.peak, rss_mib(self._pids, "VmRSS"))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak, rss_mib(self._pids, "VmRSS"))


def client_cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + waited.ru_utime + waited.ru_stime


Attach = Callable[[], AbstractContextManager[None]]


class Probe:
    """Measures blocks of work against one server process."""

    def __init__(self, pid: int, attach: Attach | None = None) -> None:
        self.pid = pid
        self.attach = attach  # e.g. a profiler around each measured block
        self.last = Measurement()

    @contextlib.contextmanager
    def measure(self) -> Iterator[Measurement]:
        pids = process_tree(self.pid)
        measurement = self.last = Measurement()
        sampler = None if reset_peak_rss(pids) else RssSampler(pids)
        with self.attach() if self.attach else contextlib.nullcontext():
            server0, client0 = cpu_seconds(pids), client_cpu_seconds()
            measurement.started = time.perf_counter()
            yield measurement
            measurement.wall_s = measurement.elapsed()
            measurement.client_cpu_s = client_cpu_seconds() - client0
            measurement.server_cpu_s = cpu_seconds(pids) - server0
        measurement.peak_rss_mib = rss_mib(pids, "VmHWM") if sampler is None else sampler.stop()
