"""Filesystem object store: one file per key under a root directory.

Writes go to a hidden temporary name beside the key and are renamed into
place, so a reader sees either nothing or the whole object; publish and
compose fsync the file and its directory first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import aiofiles.os

from storage.objects import READ_CHUNK

# preadv flag: fail instead of waiting for the disk (Linux 4.14+; 0 where unknown).
_NOWAIT = getattr(os, "RWF_NOWAIT", 0)
# Writes at least this large start their writeback at once (see _write_all).
WRITEBACK_FROM = 256 * 1024


class _FdWriter:
    """Writes to an open file descriptor in worker threads. A write left running by a
    cancelled request is waited for before the descriptor is closed, so it never lands
    in another file that reuses the number."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending: asyncio.Future[None] | None = None

    async def write(self, data: bytes) -> None:
        self._pending = asyncio.get_running_loop().run_in_executor(None, _write_all, self._fd, data)
        await asyncio.shield(self._pending)

    async def _settle(self) -> None:
        if self._pending is not None:
            await asyncio.wait([self._pending])


class FileWriter(_FdWriter):
    """Writes to a hidden temporary name beside the key; commit renames it into place."""

    def __init__(self, path: Path, temp: Path, fd: int) -> None:
        super().__init__(fd)
        self._path = path
        self._temp = temp

    async def commit(self) -> None:
        await self._settle()
        os.close(self._fd)
        await asyncio.to_thread(os.replace, self._temp, self._path)

    async def abort(self) -> None:
        await self._settle()
        os.close(self._fd)
        await asyncio.to_thread(self._temp.unlink, True)


class FileAppender(_FdWriter):
    """Appends to a file from a known size on; abort cuts it back to that size."""

    def __init__(self, path: Path, fd: int, start: int) -> None:
        super().__init__(fd)
        self._path = path
        self._start = start

    async def commit(self) -> None:
        await self._settle()
        os.close(self._fd)

    async def abort(self) -> None:
        await self._settle()
        await asyncio.to_thread(os.ftruncate, self._fd, self._start)
        os.close(self._fd)


class FilesystemObjectStore:
    def __init__(self, root: Path, *, appends: bool = True) -> None:
        self.root = root
        self.appends = appends
        root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / key

    def local_path(self, key: str) -> str:
        return str(self.path(key))

    async def stat(self, key: str) -> int | None:
        try:
            return (await aiofiles.os.stat(self.path(key))).st_size
        except FileNotFoundError:
            return None

    async def read(
        self, key: str, start: int = 0, end: int | None = None, chunk: int = READ_CHUNK
    ) -> AsyncIterator[bytes]:
        # Plain pread in a worker thread: no buffered-file layer, no seek, one hop per chunk.
        fd = await asyncio.to_thread(os.open, self.path(key), os.O_RDONLY)
        try:
            stop = end if end is not None else os.fstat(fd).st_size
            offset = start
            while offset < stop:
                data = await _read_at(fd, min(chunk, stop - offset), offset)
                if not data:
                    return
                offset += len(data)
                yield data
        finally:
            os.close(fd)

    async def open_writer(self, key: str) -> FileWriter:
        path = self.path(key)
        temp = _temp_beside(path)
        return FileWriter(path, temp, await asyncio.to_thread(_create, temp))

    async def open_appender(self, key: str, start: int) -> FileAppender:
        path = self.path(key)
        return FileAppender(path, await asyncio.to_thread(_open_at, path, start), start)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put_bytes, self.path(key), data)

    async def publish(self, source: str, target: str) -> None:
        await asyncio.to_thread(self._publish, self.path(source), self.path(target))

    async def compose(self, sources: Sequence[str], target: str) -> None:
        paths = [self.path(source) for source in sources]
        await asyncio.to_thread(self._compose, paths, self.path(target))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, self.path(key))

    async def list(self, prefix: str) -> AsyncIterator[str]:
        base = self.path(prefix)
        for path in await asyncio.to_thread(_walk, base):
            yield path.relative_to(self.root).as_posix()

    async def list_dated(self, prefix: str) -> AsyncIterator[tuple[str, datetime]]:
        """One directory at a time (a thread call each): memory follows the largest
        directory, not the store."""
        pending = [self.path(prefix)]
        root = len(str(self.root)) + 1
        while pending:
            files, directories = await asyncio.to_thread(_scan, pending.pop())
            pending.extend(directories)
            for path, modified in files:
                yield path[root:].replace(os.sep, "/"), modified

    @staticmethod
    def _put_bytes(path: Path, data: bytes) -> None:
        if path.exists():
            return  # content-addressed: the same key holds the same bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = _temp_beside(path)
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        _fsync_dir(path.parent)

    @staticmethod
    def _publish(source: Path, target: Path) -> None:
        if target.exists():
            source.unlink(missing_ok=True)
            with contextlib.suppress(FileNotFoundError):  # swept meanwhile: the commit says so
                os.utime(target)  # published now: gc dates objects no row knows by mtime
            return
        with open(source, "rb") as handle:
            os.fsync(handle.fileno())
        os.utime(source)  # the last chunk may be hours old; the blob is published now
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        _fsync_dir(target.parent)

    @staticmethod
    def _compose(sources: Sequence[Path], target: Path) -> None:
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = _temp_beside(target)
        try:
            with open(temp, "wb", buffering=0) as out:
                for source in sources:
                    _append_file(source, out)
                os.fsync(out.fileno())
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        _fsync_dir(target.parent)

    @staticmethod
    def _delete(path: Path) -> None:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


async def _read_at(fd: int, size: int, offset: int) -> bytes:
    """`size` bytes at `offset`: straight from the page cache when they are there (no
    worker thread for the small chunks a download goes out in), else in a worker thread."""
    if _NOWAIT:
        buffer = bytearray(size)
        try:
            count = os.preadv(fd, [buffer], offset, _NOWAIT)
        except OSError:  # not cached (EAGAIN), or a filesystem without it (tmpfs: EOPNOTSUPP)
            pass
        else:
            if count == size or count == 0:
                return bytes(buffer) if count else b""
    return await asyncio.to_thread(os.pread, fd, size, offset)


def _create(path: Path) -> int:
    """A new file, its directory made if needed, open for writing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)


def _open_at(path: Path, size: int) -> int:
    """The file open for appending, made exactly `size` bytes long first (dropping what a
    failed write left past it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        if os.fstat(fd).st_size < size:
            raise FileNotFoundError(f"{path} holds fewer than {size} bytes")
        os.ftruncate(fd, size)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    if len(data) >= WRITEBACK_FROM and hasattr(os, "posix_fadvise"):
        # Start writing these pages to disk now (on Linux, DONTNEED on pages still dirty
        # starts their writeback and leaves them cached), so the fsync at publish finds
        # little left to do instead of flushing the whole blob at the end.
        end = os.lseek(fd, 0, os.SEEK_CUR)
        os.posix_fadvise(fd, end - len(data), len(data), os.POSIX_FADV_DONTNEED)


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}")


def _append_file(source: Path, out: BinaryIO) -> None:
    """Copy a whole file to the end of unbuffered `out`, inside the kernel where it can."""
    start = out.tell()
    with open(source, "rb") as src:
        try:
            while os.copy_file_range(src.fileno(), out.fileno(), 1 << 30):
                pass
        except OSError:  # a filesystem or kernel without copy_file_range
            src.seek(0)
            out.truncate(start)
            out.seek(start)
            shutil.copyfileobj(src, out, READ_CHUNK)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _scan(directory: Path) -> tuple[list[tuple[str, datetime]], list[Path]]:
    """The files of one directory (paths) with their modification times, and its
    subdirectories."""
    files: list[tuple[str, datetime]] = []
    directories: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return files, directories
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                directories.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                modified = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
                files.append((entry.path, modified))
        except FileNotFoundError:
            continue  # deleted while we looked
    return files, directories


def _walk(base: Path) -> list[Path]:
    if base.is_file():
        return [base]
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else []
