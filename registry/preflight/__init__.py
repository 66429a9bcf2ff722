"""Start-up checks: every way `serve` can fail to start ends in one line and an exit status.

A failed check raises StartupError, whose text is one line: the setting or
resource, what was found, and the fix. Its `status` is CONFIGURATION (2: change
a setting, or a file a setting names) or ENVIRONMENT (1: the configuration is
fine, the machine is not: permissions, a full disk, a port taken, a server down).

    preflight(settings)     serve, once, before it binds: the checks in order, the
                            first failure raises; the metadata schema is migrated
                            last, after waiting up to metadata_connect_timeout for a
                            database that does not answer yet
    inspect(settings)       `artifact-store check`: every check, none stopping the
                            others, nothing migrated; a Finding for each
    bind_error(exc, addr)   the StartupError for an OSError from binding addr

The checks import the storage backends, so they load only when they run.
"""

from __future__ import annotations

import asyncio

from registry.config import Settings
from registry.preflight.address import bind_error
from registry.preflight.failure import CONFIGURATION, ENVIRONMENT, Finding, StartupError

__all__ = [
    "CONFIGURATION",
    "ENVIRONMENT",
    "Finding",
    "StartupError",
    "bind_error",
    "inspect",
    "preflight",
]


def preflight(settings: Settings) -> None:
    """Raises StartupError for the first check that fails. Runs its own event loop: from
    async code, call it in a thread (asyncio.to_thread)."""
    from registry.preflight.checks import run_preflight

    asyncio.run(run_preflight(settings))


def inspect(settings: Settings) -> list[Finding]:
    from registry.preflight.checks import run_inspect

    return asyncio.run(run_inspect(settings))
