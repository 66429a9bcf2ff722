"""What a failed start-up check says: one line, and the exit status it ends with."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

CONFIGURATION = 2  # a setting is wrong, or a file a setting names: change the configuration
ENVIRONMENT = 1  # the configuration is fine, the machine is not: permissions, disk, a server down


class StartupError(Exception):
    """One line for the operator: the setting or resource, what was found, the fix."""

    def __init__(self, subject: str, found: str, fix: str, status: int = ENVIRONMENT) -> None:
        super().__init__(f"{subject}: {found}; {fix}")
        self.subject = subject
        self.found = found
        self.fix = fix
        self.status = status


@dataclass(frozen=True)
class Finding:
    """One check as `artifact-store check` reports it."""

    name: str  # addr, data_dir, tls, auth, objects, metadata
    detail: str  # what was found; for a failure, the StartupError's line
    error: StartupError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# errno -> (what was found, the fix, exit status); {uid} is the server's user id.
PATH_ERRORS: dict[int, tuple[str, str, int]] = {
    errno.ENOENT: ("does not exist", "create it, or fix the path", CONFIGURATION),
    errno.EACCES: (
        "permission denied to user id {uid}",
        "give that user access (chown/chmod), or run as a user that has it",
        ENVIRONMENT,
    ),
    errno.EPERM: (
        "operation not permitted to user id {uid}",
        "give that user access, or run as a user that has it",
        ENVIRONMENT,
    ),
    errno.EROFS: (
        "on a read-only file system",
        "mount it read-write, or choose a directory on a writable file system",
        ENVIRONMENT,
    ),
    errno.ENOSPC: (
        "no space left on device (the disk is full)",
        "free space on it, or move it to a larger disk",
        ENVIRONMENT,
    ),
    errno.EDQUOT: ("disk quota exceeded", "raise the quota, or free space", ENVIRONMENT),
    errno.ENOTDIR: (
        "a part of the path is a file, not a directory",
        "fix the path",
        CONFIGURATION,
    ),
    errno.EEXIST: ("is a file, not a directory", "point it at a directory", CONFIGURATION),
    errno.EISDIR: ("is a directory, not a file", "point it at the file", CONFIGURATION),
}


def path_error(subject: str, path: Path, exc: OSError, doing: str = "") -> StartupError:
    """A StartupError for an OSError met at `path`, the file or directory a setting names;
    `doing` says what failed ("cannot write a file in it")."""
    found, fix, status = PATH_ERRORS.get(
        exc.errno or 0, (exc.strerror or str(exc), "check the path", ENVIRONMENT)
    )
    found = found.format(uid=os.geteuid())
    return StartupError(f"{subject} {path}", f"{doing}: {found}" if doing else found, fix, status)


def check_creatable(subject: str, path: Path) -> None:
    """A path that does not exist yet can be made: its nearest existing directory lets us in."""
    parent = next((p for p in path.absolute().parents if p.exists()), Path("/"))
    if not parent.is_dir():
        denied: OSError = NotADirectoryError(errno.ENOTDIR, "Not a directory")
    elif not os.access(parent, os.W_OK | os.X_OK):
        denied = PermissionError(errno.EACCES, "Permission denied")
    else:
        return
    raise path_error(subject, path, denied, f"cannot create it in {parent}")


def cause(exc: BaseException) -> str:
    """The innermost reason behind an exception, as a short text."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, OSError) and exc.errno and exc.errno > 0:
        return os.strerror(exc.errno)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
