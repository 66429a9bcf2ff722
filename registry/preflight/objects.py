"""The object store: a probe object written, read back and deleted, where blobs will go.

On S3 a HeadBucket first tells a missing bucket from refused credentials.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from registry.config import Settings
from registry.full_disk import is_full
from registry.preflight.failure import CONFIGURATION, ENVIRONMENT, StartupError, path_error
from storage.errors import CredentialsRefused, StorageError, StoreMissing
from storage.layout import probe_key
from storage.objects import ObjectStore, check_bucket, close
from storage.store import open_objects

PROBE = b"artifact-store start-up probe\n"


async def prepare(settings: Settings) -> str:
    """serve: the probe round trip (the filesystem store's directory is created)."""
    return await _probe(settings)


async def inspect(settings: Settings) -> str:
    """check: the same, but a filesystem store not created yet is left to serve."""
    if settings.s3 is None and not (Path(settings.data_dir) / "objects").is_dir():
        return f"{Path(settings.data_dir) / 'objects'} does not exist yet; serve creates it"
    return await _probe(settings)


async def _probe(settings: Settings) -> str:
    try:
        store = await open_objects(Path(settings.data_dir), settings.s3)
        try:
            await check_bucket(store)
            await _round_trip(store, _where(settings))
        finally:
            await close(store)
    except OSError as exc:
        if is_full(exc):  # pulls can still be served: the server starts read-only
            return _where(settings) + ": on a full disk, serving read-only until space is freed"
        raise path_error("data_dir", Path(settings.data_dir) / "objects", exc) from exc
    except StorageError as exc:
        raise s3_failure(settings, exc) from exc
    return _where(settings) + ": a probe object written, read back and deleted"


async def _round_trip(store: ObjectStore, where: str) -> None:
    key = probe_key(uuid.uuid4().hex)
    await store.put_bytes(key, PROBE)
    try:
        read = b"".join([chunk async for chunk in store.read(key)])
    finally:
        await store.delete(key)
    if read != PROBE:
        found = f"a probe object read back as {read[:32]!r}, not as written"
        raise StartupError(where, found, "check the storage behind it", ENVIRONMENT)


def _where(settings: Settings) -> str:
    s3 = settings.s3
    if s3 is None:
        return f"{Path(settings.data_dir) / 'objects'}"
    return f"s3://{s3.bucket}/{s3.prefix} at {s3.endpoint_url or 'AWS'}"


def s3_failure(settings: Settings, exc: StorageError) -> StartupError:
    """What a storage error met on the S3 bucket means to the operator."""
    subject = f"s3_bucket {settings.s3_bucket} at {settings.s3_endpoint_url or 'AWS'}"
    detail = str(exc.detail or type(exc).__name__)
    if isinstance(exc, StoreMissing):
        fix = "create the bucket, or correct s3_bucket (and s3_endpoint_url, s3_region)"
        return StartupError(subject, f"the bucket does not exist ({detail})", fix, CONFIGURATION)
    if isinstance(exc, CredentialsRefused):
        fix = (
            "check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile"
            " or a role) and the bucket's policy"
        )
        return StartupError(subject, f"access was refused ({detail})", fix, CONFIGURATION)
    fix = "start the S3 server, or correct s3_endpoint_url and s3_region"
    return StartupError(subject, f"unreachable or failing ({detail})", fix, ENVIRONMENT)
