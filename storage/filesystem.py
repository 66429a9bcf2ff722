"""Filesystem object store: one file per key under a root directory.

Writes go to a hidden temporary name beside the key and are renamed into
place, so a reader sees either nothing or the whole object; publish and
compose fsync the file and its directory first.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import BinaryIO

import aiofiles
import aiofiles.os
from aiofiles.threadpool.binary import AsyncBufferedIOBase

from storage.objects import READ_CHUNK


class FileWriter:
    """Writes to a hidden temporary name beside the key; commit renames it into place."""

    def __init__(self, path: Path, temp: Path, handle: AsyncBufferedIOBase) -> None:
        self._path = path
        self._temp = temp
        self._handle = handle

    async def write(self, data: bytes) -> None:
        await self._handle.write(data)

    async def commit(self) -> None:
        await self._handle.close()
        await aiofiles.os.replace(self._temp, self._path)

    async def abort(self) -> None:
        await self._handle.close()
        await asyncio.to_thread(self._temp.unlink, True)


class FileAppender:
    """Appends to a file from a known size on; abort cuts it back to that size."""

    def __init__(self, path: Path, handle: AsyncBufferedIOBase, start: int) -> None:
        self._path = path
        self._handle = handle
        self._start = start

    async def write(self, data: bytes) -> None:
        await self._handle.write(data)

    async def commit(self) -> None:
        await self._handle.close()

    async def abort(self) -> None:
        await self._handle.close()
        await asyncio.to_thread(os.truncate, self._path, self._start)


class FilesystemObjectStore:
    def __init__(self, root: Path, *, appends: bool = True) -> None:
        self.root = root
        self.appends = appends
        root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / key

    async def stat(self, key: str) -> int | None:
        try:
            return (await aiofiles.os.stat(self.path(key))).st_size
        except FileNotFoundError:
            return None

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        remaining = None if end is None else end - start
        async with aiofiles.open(self.path(key), "rb") as handle:
            await handle.seek(start)
            while remaining is None or remaining > 0:
                want = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = await handle.read(want)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    async def open_writer(self, key: str) -> FileWriter:
        path = self.path(key)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        temp = _temp_beside(path)
        return FileWriter(path, temp, await aiofiles.open(temp, "wb"))

    async def open_appender(self, key: str, start: int) -> FileAppender:
        path = self.path(key)
        await asyncio.to_thread(_cut, path, start)
        return FileAppender(path, await aiofiles.open(path, "ab"), start)

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
            return
        with open(source, "rb") as handle:
            os.fsync(handle.fileno())
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


def _cut(path: Path, size: int) -> None:
    """Make the file exactly `size` bytes long, dropping what a failed write left past it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        if handle.tell() < size:
            raise FileNotFoundError(f"{path} holds fewer than {size} bytes")
        handle.truncate(size)


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


def _walk(base: Path) -> list[Path]:
    if base.is_file():
        return [base]
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else []
