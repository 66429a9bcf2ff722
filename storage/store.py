"""Everything the registry needs from storage, opened from a data directory."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from storage.blobs import BlobStore
from storage.database import Database, default_url
from storage.filesystem import FilesystemObjectStore
from storage.manifest_store import ManifestStore
from storage.objects import ObjectStore
from storage.uploads import UploadSessions


@dataclass
class Storage:
    db: Database
    objects: ObjectStore
    blobs: BlobStore
    uploads: UploadSessions
    manifests: ManifestStore

    @classmethod
    async def open(cls, data_dir: Path, metadata_url: str | None = None) -> Storage:
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
        db = Database(metadata_url or default_url(data_dir))
        await db.migrate()
        objects = FilesystemObjectStore(data_dir / "objects")
        blobs = BlobStore(db, objects)
        return cls(db, objects, blobs, UploadSessions(db, objects, blobs), ManifestStore(db, blobs))

    async def close(self) -> None:
        await self.db.close()
