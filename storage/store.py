"""Everything the registry needs from storage, opened from a data directory."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from storage.blobs import BlobStore
from storage.cache_sync import CacheSync
from storage.caches import RepositoryCaches
from storage.database import Database, default_url
from storage.file_locks import FileLocks
from storage.filesystem import FilesystemObjectStore
from storage.manifest_store import ManifestStore
from storage.objects import ObjectStore
from storage.objects import close as close_objects
from storage.policy import NO_POLICY, StoragePolicy
from storage.uploads import UploadSessions

SESSION_LOCKS = "upload-sessions.lock"  # in the data directory (storage/file_locks.py)

if TYPE_CHECKING:
    from storage.s3_plan import S3Config


@dataclass
class Storage:
    db: Database
    objects: ObjectStore
    blobs: BlobStore
    uploads: UploadSessions
    manifests: ManifestStore
    caches: RepositoryCaches
    file_locks: FileLocks | None = None

    @classmethod
    async def open(
        cls,
        data_dir: Path,
        metadata_url: str | None = None,
        s3: S3Config | None = None,
        *,
        migrate: bool = True,
        policy: StoragePolicy = NO_POLICY,
    ) -> Storage:
        """`migrate=False` where the schema is known current (a server's workers: their
        parent migrated before it started them). `policy`: the immutable tags and quotas
        enforced where writes happen."""
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
        db = Database(metadata_url or default_url(data_dir))
        if migrate:
            await db.migrate()
        objects = await open_objects(data_dir, s3)
        caches = RepositoryCaches(lookups=True)
        caches.sync = CacheSync(db, caches)  # what other processes change
        await caches.sync.start()
        blobs = BlobStore(db, objects, caches, policy)
        # Worker processes share the data directory of the single-node (SQLite) shape.
        locks = FileLocks(data_dir / SESSION_LOCKS) if db.is_sqlite else None
        uploads = UploadSessions(db, objects, blobs, file_locks=locks)
        manifests = ManifestStore(db, blobs, caches, policy)
        return cls(db, objects, blobs, uploads, manifests, caches, locks)

    async def close(self) -> None:
        await self.db.close()
        await close_objects(self.objects)
        if self.file_locks is not None:
            self.file_locks.close()


async def open_objects(data_dir: Path, s3: S3Config | None = None) -> ObjectStore:
    """The data directory's own files, or an S3 bucket when S3 settings are given."""
    if s3 is None:
        return FilesystemObjectStore(data_dir / "objects")
    from storage.s3 import S3ObjectStore  # boto3 is imported only when S3 is used

    return await S3ObjectStore.open(s3)
