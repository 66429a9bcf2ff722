"""A file whose parsed content is re-read when the file changes on disk."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("artifact-store.auth")


class WatchedFile(Generic[T]):
    """Parses `path` at construction (errors propagate) and again whenever its
    inode, size or mtime change; a broken edit keeps the previous content."""

    def __init__(self, path: Path, parse: Callable[[bytes], T]) -> None:
        self.path = path
        self._parse = parse
        self._stamp = self._stat()
        self._value = parse(path.read_bytes())

    def current(self) -> T:
        stamp = self._stat()
        if stamp != self._stamp:
            self._reload(stamp)
        return self._value

    def _reload(self, stamp: tuple[int, int, int] | None) -> None:
        self._stamp = stamp
        try:
            self._value = self._parse(self.path.read_bytes())
        except (OSError, ValueError) as exc:
            log.error("keeping the previous %s: %s", self.path, exc)
        else:
            log.info("reloaded %s", self.path)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_ino, info.st_size, info.st_mtime_ns
