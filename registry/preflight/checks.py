"""Which checks serve and `check` run, in which order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from registry.config import Settings
from registry.preflight import address, auth_files, data_dir, database, objects, tls
from registry.preflight.failure import Finding, StartupError

# A check returns what it found when all is well and raises StartupError otherwise.
Check = Callable[[Settings], Awaitable[str]]

# The database comes last: its schema is migrated only when everything else would serve.
SERVE: list[tuple[str, Check]] = [
    ("data_dir", data_dir.prepare),
    ("tls", tls.check),
    ("auth", auth_files.check),
    ("objects", objects.prepare),
    ("metadata", database.prepare),
]
# `check` also tries the address (serve binds it right after its checks).
INSPECT: list[tuple[str, Check]] = [
    ("addr", address.check),
    ("data_dir", data_dir.inspect),
    ("tls", tls.check),
    ("auth", auth_files.check),
    ("objects", objects.inspect),
    ("metadata", database.inspect),
]


async def run_preflight(settings: Settings) -> None:
    for _, check in SERVE:
        await check(settings)


async def run_inspect(settings: Settings) -> list[Finding]:
    return [await _finding(name, check, settings) for name, check in INSPECT]


async def _finding(name: str, check: Check, settings: Settings) -> Finding:
    try:
        return Finding(name, await check(settings))
    except StartupError as exc:
        return Finding(name, str(exc), exc)
