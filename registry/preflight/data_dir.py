"""The data directory: it exists or can be made, and a file written in it reaches the disk."""

from __future__ import annotations

import asyncio
import errno
import shutil
from pathlib import Path

from registry.config import Settings
from registry.full_disk import is_full, write_probe
from registry.preflight.failure import check_creatable, path_error
from registry.units import format_size


def uses(settings: Settings) -> list[str]:
    """What the data directory holds with these settings."""
    held = []
    if settings.storage == "filesystem":
        held.append("blobs")
    if settings.metadata_url is None:
        held.append("the SQLite metadata")
    if settings.auth_mode == "token" and settings.auth_htpasswd and not settings.auth_token_key:
        held.append("the token signing key")
    return held


async def prepare(settings: Settings) -> str:
    """serve: create the directory, and write a probe file when anything lives there."""
    return await asyncio.to_thread(_prepare, Path(settings.data_dir), uses(settings))


async def inspect(settings: Settings) -> str:
    """check: the same, but a missing directory is only checked for being creatable."""
    return await asyncio.to_thread(_inspect, Path(settings.data_dir), uses(settings))


def _prepare(path: Path, held: list[str]) -> str:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise path_error("data_dir", path, exc, "cannot create it") from exc
    return _probed(path, held)


def _inspect(path: Path, held: list[str]) -> str:
    if path.is_dir():
        return _probed(path, held)
    if path.exists():
        raise path_error("data_dir", path, FileExistsError(errno.EEXIST, "File exists"))
    check_creatable("data_dir", path)
    return f"{path} does not exist yet; serve creates it"


def _probed(path: Path, held: list[str]) -> str:
    if not held:
        return f"{path} holds nothing with these settings (metadata and blobs live elsewhere)"
    try:
        write_probe(path)
    except OSError as exc:
        if is_full(exc):  # pulls can still be served: the server starts read-only
            return f"{path} is on a full disk: serving read-only until space is freed"
        raise path_error("data_dir", path, exc, "cannot write a file in it") from exc
    free = format_size(shutil.disk_usage(path).free)
    return f"{path} is writable, {free} free; holds {', '.join(held)}"
