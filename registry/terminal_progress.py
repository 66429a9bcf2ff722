"""Progress of long commands as one line on a terminal, rewritten in place.

`progress_for(json_output)` is what a command hands to storage: a
TerminalProgress on stderr when stdout and stderr are both terminals and the
output is not JSON, storage.progress.SILENT otherwise, so that piped,
redirected or machine-read output carries nothing extra. The line shows the
stage, items and bytes done (of their totals when known), the rate, and the
time left when the totals are known:

    gc: 1200/5000 items (24%), 3.1 GiB/12.0 GiB, 85.2 MiB/s, ETA 1m47s
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from registry.units import format_duration, format_size
from storage.progress import SILENT, Progress

REDRAW_EVERY = 0.1  # seconds; advancing more often than this only counts
ERASE_TO_END = "\x1b[K"
DEFAULT_WIDTH = 80


@dataclass
class Stage:
    name: str
    items_total: int | None
    size_total: int | None
    started: float
    items: int = 0
    size: int = 0


def progress_for(json_output: bool = False) -> Progress:
    if json_output or not (sys.stdout.isatty() and sys.stderr.isatty()):
        return SILENT
    return TerminalProgress(sys.stderr)


class TerminalProgress:
    """storage.progress.Progress drawn as one line on `stream`, a terminal."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self.stage: Stage | None = None
        self._drawn = 0.0
        self._lock = threading.Lock()  # storage may report from worker threads

    def begin(self, stage: str, items: int | None = None, size: int | None = None) -> None:
        with self._lock:
            if self.stage is not None:
                self._finish()
            self.stage = Stage(stage, items, size, self.clock())
            self._draw()

    def advance(self, items: int = 1, size: int = 0) -> None:
        with self._lock:
            if self.stage is None:
                return
            self.stage.items += items
            self.stage.size += size
            if self.clock() - self._drawn >= REDRAW_EVERY:
                self._draw()

    def end(self) -> None:
        with self._lock:
            if self.stage is not None:
                self._finish()

    def _finish(self) -> None:
        self._draw(final=True)
        self.stream.write("\n")
        self.stream.flush()
        self.stage = None

    def _draw(self, final: bool = False) -> None:
        assert self.stage is not None
        self._drawn = self.clock()
        line = progress_line(self.stage, self._drawn, final)[: self._width() - 1]
        self.stream.write(f"\r{line}{ERASE_TO_END}")
        self.stream.flush()

    def _width(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or DEFAULT_WIDTH
        except (OSError, ValueError):
            return DEFAULT_WIDTH


def progress_line(stage: Stage, now: float, final: bool = False) -> str:
    """`name: items, bytes, rate, ETA` (or the time taken, once the stage is over)."""
    elapsed = max(now - stage.started, 0.0)
    parts = [_items(stage)]
    if stage.size or stage.size_total:
        parts.append(_bytes(stage))
    if elapsed > 0:
        parts.append(_rate(stage, elapsed))
    if final:
        parts.append(f"took {format_duration(elapsed)}")
    else:
        left = _time_left(stage, elapsed)
        if left is not None:
            parts.append(f"ETA {format_duration(left)}")
    return f"{stage.name}: " + ", ".join(parts)


def _items(stage: Stage) -> str:
    if stage.items_total is None:
        return f"{stage.items} items"
    percent = f" ({100 * stage.items // stage.items_total}%)" if stage.items_total else ""
    return f"{stage.items}/{stage.items_total} items{percent}"


def _bytes(stage: Stage) -> str:
    if stage.size_total is None:
        return format_size(stage.size)
    return f"{format_size(stage.size)}/{format_size(stage.size_total)}"


def _rate(stage: Stage, elapsed: float) -> str:
    if stage.size:
        return f"{format_size(stage.size / elapsed)}/s"
    return f"{stage.items / elapsed:.1f} items/s"


def _time_left(stage: Stage, elapsed: float) -> float | None:
    """From the bytes when their total is known, else from the items."""
    for done, total in ((stage.size, stage.size_total), (stage.items, stage.items_total)):
        if total is not None and done > 0:
            return max(total - done, 0) * elapsed / done
    return None
