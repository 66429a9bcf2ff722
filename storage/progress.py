"""Progress of long storage operations (gc, verify, usage, migrations) for whoever shows it.

Storage only reports: a stage begins (with totals when known), work advances
by items and bytes, the stage ends. The command line renders it on a terminal
(items and bytes done, rate, ETA) and shows nothing when its output is not a
terminal or is JSON; the server passes SILENT.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def begin(self, stage: str, items: int | None = None, size: int | None = None) -> None:
        """A stage starts; `items` and `size` (bytes) are its totals when known."""

    def advance(self, items: int = 1, size: int = 0) -> None:
        """`items` more done, `size` more bytes done, in the current stage."""

    def end(self) -> None:
        """The current stage is done."""


class Silent:
    """Progress that nobody watches."""

    def begin(self, stage: str, items: int | None = None, size: int | None = None) -> None:
        pass

    def advance(self, items: int = 1, size: int = 0) -> None:
        pass

    def end(self) -> None:
        pass


SILENT: Progress = Silent()
