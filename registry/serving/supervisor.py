"""Worker processes serving one listening socket, for a server that has no process
manager of its own (Hypercorn's stops every worker when one fails).

All start together. One that exits is started again, unless it was itself a
replacement that lasted less than CRASH_LOOP seconds: then it cannot start, and
the supervisor stops them all and exits 1. SIGTERM or SIGINT forwards SIGTERM to
every worker, which finishes its requests in flight; one still running after
the grace period is killed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

log = logging.getLogger("artifact-store")

CRASH_LOOP = 5.0  # seconds


@dataclass
class Worker:
    number: int
    process: BaseProcess
    started: float
    replacement: bool

    def crash_looping(self) -> bool:
        return self.replacement and time.monotonic() - self.started < CRASH_LOOP


class Supervisor:
    def __init__(self, start: Callable[[int], BaseProcess], count: int, grace: float) -> None:
        self._start = start
        self._count = count
        self._grace = grace
        self._workers: list[Worker] = []
        self._stopping = False
        self._wake_read, self._wake_write = os.pipe()

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT (0), or until a worker fails to start (1)."""
        with self._signals_handled():
            try:
                for number in range(1, self._count + 1):
                    self._spawn(number, replacement=False)
                return self._watch()
            finally:
                self._stop_all()
                os.close(self._wake_read)
                os.close(self._wake_write)

    def _spawn(self, number: int, replacement: bool) -> None:
        process = self._start(number)
        process.start()
        self._workers.append(Worker(number, process, time.monotonic(), replacement))

    def _watch(self) -> int:
        while not self._stopping:
            wait([w.process.sentinel for w in self._workers] + [self._wake_read])
            for worker in [w for w in self._workers if not w.process.is_alive()]:
                if self._stopping:
                    break
                self._workers.remove(worker)
                worker.process.join()
                code = worker.process.exitcode
                if worker.crash_looping():
                    log.error("worker %d exited with %s again at once", worker.number, code)
                    return 1
                log.warning("worker %d exited with %s; starting another", worker.number, code)
                self._spawn(worker.number, replacement=True)
        return 0

    def _stop_all(self) -> None:
        for worker in self._workers:
            if worker.process.is_alive():
                worker.process.terminate()
        deadline = time.monotonic() + self._grace
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                log.warning("worker %d did not stop within %ss; killed", worker.number, self._grace)
                worker.process.kill()
                worker.process.join()
        self._workers.clear()

    @contextlib.contextmanager
    def _signals_handled(self) -> Iterator[None]:
        handled = (signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        os.write(self._wake_write, b"\0")  # wakes the wait() of _watch
