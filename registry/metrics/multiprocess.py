"""Metrics across the processes of one server run: prometheus-client's multiprocess mode.

prometheus_client decides at import whether values live in memory or in files of a
directory named by PROMETHEUS_MULTIPROC_DIR; `prepare()` names one before anything
imports it, in the process that starts the server, so every worker it starts
inherits the directory. A run gets a fresh directory (or, when the variable is
already set, that directory emptied), so counters start at zero with each run and
never mix with another server's on the same machine. A run removes its directory
when it ends; one left by a run that was killed is removed by the next run's start.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "artifact-store-metrics-"
_RUN = re.compile(re.escape(PREFIX) + r"([0-9]+)-\w+")


def prepare() -> Path | None:
    """The run's directory, made ready. When prometheus_client is imported already, its
    mode is chosen: the directory it uses, or None for metrics in this process's memory."""
    if "prometheus_client" in sys.modules:
        return directory()
    given = os.environ.get(ENV)
    if given:
        path = Path(given)
        _empty(path)
        return path
    _remove_stale(Path(tempfile.gettempdir()))
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    os.environ[ENV] = str(path)
    return path


def directory() -> Path | None:
    given = os.environ.get(ENV)
    return Path(given) if given else None


def remove(path: Path) -> None:
    """Drop the run's directory when the run made it (not one the operator named)."""
    if _RUN.fullmatch(path.name):
        shutil.rmtree(path, ignore_errors=True)


def _remove_stale(parent: Path) -> None:
    """Directories of runs whose process is gone."""
    for path in parent.glob(PREFIX + "*"):
        found = _RUN.fullmatch(path.name)
        if found and not _alive(int(found[1])):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _empty(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_file() and entry.suffix in (".db", ".json"):
            entry.unlink(missing_ok=True)
