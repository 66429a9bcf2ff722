"""The installed package's version, as `--version`, `check` and /healthz show it."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version


@functools.cache
def package_version() -> str:
    try:
        return version("artifact-store")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"
