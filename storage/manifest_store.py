"""Manifests, tags, referrers and the catalog of a registry.

Manifest bytes are blobs like any other content, stored and read through
BlobStore (once under their BLAKE3 key, linked to the repository), and cached
in memory (storage/caches.py), since content under a key never changes.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, and_, delete, exists, select

from manifests.digest import Digest, is_digest_reference
from manifests.mediatypes import is_non_distributable
from manifests.parse import Descriptor, Manifest, parse_manifest
from manifests.referrers import referrer_descriptor
from storage import events
from storage.blobs import Blob, BlobStore
from storage.caches import RepositoryCaches
from storage.database import Conn, Database
from storage.errors import (
    DigestMismatch,
    ManifestBlobUnknown,
    ManifestUnknown,
    NameUnknown,
    PolicyDenied,
)
from storage.hashing import digests_of
from storage.policy import NO_POLICY, StoragePolicy
from storage.repositories import now, repository_id, resolve_all_in_repository, resolve_key
from storage.schema import (
    blobs as blob_rows,
)
from storage.schema import (
    manifest_refs,
    manifests,
    repositories,
    repository_blobs,
    tags,
)

CATALOG_BATCH = 1000  # names read at a time when the catalog is filtered


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: str
    media_type: str
    size: int
    key: str
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[str]
    more: bool


class ManifestStore:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        caches: RepositoryCaches,
        policy: StoragePolicy = NO_POLICY,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.caches = caches
        self.policy = policy  # its immutable tags: no push moves them, no delete removes them

    async def put(
        self,
        repository: str,
        reference: str,
        body: bytes,
        content_type: str | None,
        tag_names: Sequence[str],
        actor: str,
        *,
        complete: bool = True,
    ) -> StoredManifest:
        """Store a manifest and tag it. `complete=False` (a manifest the pull-through cache
        fetched) takes it without what it references: that follows when clients ask for it,
        and its `manifest_refs` rows name only the children stored so far."""
        manifest = parse_manifest(body, content_type)
        pushed = Digest.parse(reference) if is_digest_reference(reference) else None
        digests = digests_of(body, [pushed.algorithm] if pushed else [])
        if pushed is not None and digests[pushed.algorithm] != pushed:
            raise DigestMismatch({"digest": reference})
        described = referrer_descriptor(
            manifest, pushed or digests["sha256"], len(body), manifest.media_type
        )
        async with self.db.read() as conn:  # a manifest refused writes nothing
            await _resolve_references(conn, repository, manifest, complete)
            for name in tag_names:
                await self._check_tag_move(conn, repository, name, digests["blake3"].hex)
        await self.blobs.check_quotas(repository, digests["blake3"].hex, len(body))
        blob = await self.blobs.store_bytes(body, digests)  # durable before the transaction
        async with self.db.write() as conn:
            # The links it needs stay locked until commit: gc cannot take them meanwhile.
            children = await _resolve_references(conn, repository, manifest, complete, lock=True)
            repo_id = await self.blobs.record(conn, repository, digests, blob.size)
            await self._save(conn, repo_id, repository, blob.key, described, manifest, actor)
            await self._save_refs(conn, repo_id, blob.key, children)
            digest = str(described.digest)
            tagged = {"media_type": manifest.media_type, "size": blob.size}
            for name in sorted(set(tag_names)):  # one lock order across concurrent pushes
                await self._tag(conn, repo_id, repository, name, blob.key, digest, actor, tagged)
        self.caches.changed(repository)
        self.caches.manifest_bytes.put(blob.key, body)
        subject = str(manifest.subject.digest) if manifest.subject else None
        return StoredManifest(digest, manifest.media_type, blob.size, blob.key, subject)

    async def get(self, repository: str, reference: str) -> tuple[StoredManifest, bytes]:
        stored = await self.stat(repository, reference)
        return stored, await self._load(stored)

    async def stat(self, repository: str, reference: str) -> StoredManifest:
        await self.caches.catch_up()
        cached = self.caches.manifests.get(repository, reference)
        if cached is not None:
            return cached
        generation = self.caches.manifests.generation(repository)
        async with self.db.read() as conn:
            row = await _find(conn, repository, reference)
        if row is None:
            raise ManifestUnknown({"reference": reference})
        digest = reference if is_digest_reference(reference) else row.digest
        stored = StoredManifest(digest, row.media_type, row.size, row.blob_key)
        self.caches.manifests.put(repository, reference, stored, generation)
        return stored

    async def delete(self, repository: str, reference: str, actor: str) -> None:
        async with self.db.write() as conn:
            row = await _find(conn, repository, reference, quarantined=True)
            if row is None:
                raise ManifestUnknown({"reference": reference})
            if is_digest_reference(reference):
                await self._check_untagging(conn, row, repository)
                await self._delete_manifest(conn, row, repository, actor)
            else:
                self._check_tag_delete(repository, reference)
                await self._delete_tag(conn, row, repository, reference, actor)
        self.caches.changed(repository)

    async def retire(
        self,
        repository: str,
        tag_names: Sequence[tuple[str, str]],
        keys: Sequence[str],
        actor: str,
    ) -> None:
        """Delete what retention planned (storage/retention.py), where it still holds: each
        (tag, key) that still names that key and is not immutable; then each manifest (by
        key) that no tag names now, with the links of what only it referenced. One
        transaction per deletion, each shaped like a DELETE request's (rows in the order a
        push writes them, so no deadlock with one), each recording its event."""
        for name, key in tag_names:
            async with self.db.write() as conn:
                row = await _find(conn, repository, name)
                if row is not None and row.blob_key == key:
                    self._check_tag_delete(repository, name)
                    await self._delete_tag(conn, row, repository, name, actor)
        for key in keys:
            async with self.db.write() as conn:
                await self._retire_manifest(conn, repository, key, actor)
        self.caches.changed(repository)

    async def _retire_manifest(self, conn: Conn, repository: str, key: str, actor: str) -> None:
        repo_id = await repository_id(conn, repository)
        row = None if repo_id is None else await _manifest_row(conn, repo_id, key)
        if row is None or repo_id is None:
            return
        named = select(tags.c.name).where(
            tags.c.repository_id == repo_id, tags.c.manifest_key == key
        )
        if (await conn.execute(named.limit(1))).first() is not None:
            return  # tagged again since the plan
        await self._check_untagging(conn, row, repository)
        await _unlink_only_referenced_by(conn, repo_id, key)
        await self._delete_manifest(conn, row, repository, actor)

    async def list_tags(self, repository: str, n: int | None, last: str | None) -> Page:
        if self.caches.tag_lists.enabled:
            names = await self._all_tags(repository)
            start = bisect.bisect_right(names, last) if last else 0
            end = len(names) if n is None else start + n
            return Page(names[start:end], end < len(names))
        async with self.db.read() as conn:
            repo_id = await repository_id(conn, repository)
            if repo_id is None:
                raise NameUnknown({"name": repository})
            query = select(tags.c.name).where(tags.c.repository_id == repo_id)
            if last:
                query = query.where(tags.c.name > last)
            return await _page(conn, query.order_by(tags.c.name), n)

    async def _all_tags(self, repository: str) -> list[str]:
        """Every tag of the repository in order, from the cache when it holds them."""
        await self.caches.catch_up()
        cached = self.caches.tag_lists.get(repository, "")
        if cached is not None:
            return cached
        generation = self.caches.tag_lists.generation(repository)
        async with self.db.read() as conn:
            repo_id = await repository_id(conn, repository)
            if repo_id is None:
                raise NameUnknown({"name": repository})
            query = select(tags.c.name).where(tags.c.repository_id == repo_id)
            names = list((await conn.execute(query.order_by(tags.c.name))).scalars())
        self.caches.tag_lists.put(repository, "", names, generation)
        return names

    async def catalog(
        self, n: int | None, last: str | None, visible: Callable[[str], bool] | None = None
    ) -> Page:
        """Repository names after `last`; only those `visible` keeps, when given."""
        if visible is not None:
            return await self._visible_catalog(n, last, visible)
        async with self.db.read() as conn:
            query = select(repositories.c.name)
            if last:
                query = query.where(repositories.c.name > last)
            return await _page(conn, query.order_by(repositories.c.name), n)

    async def _visible_catalog(
        self, n: int | None, last: str | None, visible: Callable[[str], bool]
    ) -> Page:
        found: list[str] = []
        cursor = last
        async with self.db.read() as conn:
            while n is None or len(found) <= n:
                query = select(repositories.c.name).order_by(repositories.c.name)
                if cursor:
                    query = query.where(repositories.c.name > cursor)
                names = list((await conn.execute(query.limit(CATALOG_BATCH))).scalars())
                found += [name for name in names if visible(name)]
                if len(names) < CATALOG_BATCH:
                    break
                cursor = names[-1]
        if n is not None and len(found) > n:
            return Page(found[:n], True)
        return Page(found, False)

    async def referrers(
        self, repository: str, subject: Digest, artifact_type: str | None
    ) -> list[Descriptor]:
        query = (
            select(manifests)
            .join(repositories, repositories.c.id == manifests.c.repository_id)
            .where(repositories.c.name == repository, manifests.c.subject == str(subject))
            .order_by(manifests.c.created, manifests.c.digest)
        )
        if artifact_type:
            query = query.where(manifests.c.artifact_type == artifact_type)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [stored_descriptor(row) for row in rows]

    async def _save(
        self,
        conn: Conn,
        repo_id: int,
        repository: str,
        key: str,
        described: Descriptor,
        manifest: Manifest,
        actor: str,
    ) -> None:
        """The manifest's row, which holds its referrer descriptor, and the push event."""
        subject = str(manifest.subject.digest) if manifest.subject else None
        annotations = described.annotations
        values = {
            "repository_id": repo_id,
            "blob_key": key,
            "digest": str(described.digest),
            "media_type": described.media_type,
            "artifact_type": described.artifact_type,
            "subject": subject,
            "size": described.size,
            "created": now(),
            "annotations": json.dumps(dict(annotations)) if annotations else None,
        }
        await conn.execute(self.db.upsert(manifests, ["repository_id", "blob_key"], values))
        await events.record(
            conn,
            actor,
            "manifest.push",
            repository,
            digest=str(described.digest),
            media_type=described.media_type,
            size=described.size,
            key=key,
            subject=subject,
            artifact_type=described.artifact_type,
        )

    async def _save_refs(
        self, conn: Conn, repo_id: int, key: str, children: dict[str, str]
    ) -> None:
        """What the manifest needs, one row per child (kept for gc; nothing reads them yet)."""
        if children:
            rows = [
                {"repository_id": repo_id, "manifest_key": key, "child_key": child, "kind": kind}
                for child, kind in children.items()
            ]
            await conn.execute(self.db.insert_ignore(manifest_refs), rows)

    async def _tag(
        self,
        conn: Conn,
        repo_id: int,
        repository: str,
        name: str,
        key: str,
        digest: str,
        actor: str,
        described: dict[str, Any],
    ) -> None:
        await self._check_tag_move(conn, repository, name, key)
        values = {"repository_id": repo_id, "name": name, "manifest_key": key, "updated": now()}
        await conn.execute(self.db.upsert(tags, ["repository_id", "name"], values))
        await events.record(
            conn, actor, "tag.push", repository, tag=name, digest=digest, **described
        )

    async def _check_tag_move(self, conn: Conn, repository: str, name: str, key: str) -> None:
        """An immutable tag may be pushed again to the manifest it names (clients retry),
        never moved to another."""
        rule = self.policy.protecting(repository, name)
        if rule is None:
            return
        query = (
            select(tags.c.manifest_key)
            .join(repositories, repositories.c.id == tags.c.repository_id)
            .where(repositories.c.name == repository, tags.c.name == name)
        )
        current = (await conn.execute(query)).scalar()
        if current is not None and current != key:
            raise _immutable(repository, name, str(rule), "moved to another manifest")

    def _check_tag_delete(self, repository: str, name: str) -> None:
        rule = self.policy.protecting(repository, name)
        if rule is not None:
            raise _immutable(repository, name, str(rule), "deleted")

    async def _check_untagging(
        self, conn: Conn, row: Row[tuple[object, ...]], repository: str
    ) -> None:
        """Deleting a manifest deletes its tags: refused while one of them is immutable."""
        if not self.policy.immutable_tags:
            return
        query = select(tags.c.name).where(
            tags.c.repository_id == row.repository_id, tags.c.manifest_key == row.blob_key
        )
        for name in (await conn.execute(query.order_by(tags.c.name))).scalars():
            rule = self.policy.protecting(repository, name)
            if rule is not None:
                raise _immutable(repository, name, str(rule), "deleted with its manifest")

    async def _delete_manifest(
        self, conn: Conn, row: Row[tuple[object, ...]], repository: str, actor: str
    ) -> None:
        await remove_manifest(conn, row, repository, actor)

    async def _delete_tag(
        self,
        conn: Conn,
        row: Row[tuple[object, ...]],
        repository: str,
        tag: str,
        actor: str,
    ) -> None:
        await conn.execute(
            delete(tags).where(tags.c.repository_id == row.repository_id, tags.c.name == tag)
        )
        await events.record(conn, actor, "tag.delete", repository, tag=tag, digest=row.digest)

    async def _load(self, stored: StoredManifest) -> bytes:
        cached = self.caches.manifest_bytes.get(stored.key)
        if cached is not None:
            return cached
        body = await self.blobs.read_bytes(Blob(stored.key, stored.size))
        self.caches.manifest_bytes.put(stored.key, body)
        return body


def _immutable(repository: str, tag: str, rule: str, change: str) -> PolicyDenied:
    return PolicyDenied(
        f"tag {repository}:{tag} is immutable under {rule}: it cannot be {change}",
        {"repository": repository, "tag": tag},
    )


async def _manifest_row(conn: Conn, repo_id: int, key: str) -> Row[tuple[object, ...]] | None:
    query = select(manifests).where(
        manifests.c.repository_id == repo_id, manifests.c.blob_key == key
    )
    return (await conn.execute(query)).first()


async def _unlink_only_referenced_by(conn: Conn, repo_id: int, key: str) -> None:
    """Take from the repository the blobs the manifest `key` references that no other of its
    manifests references and that are no manifest of it: the garbage collector then finds
    them unreferenced."""
    children = select(manifest_refs.c.child_key).where(
        manifest_refs.c.repository_id == repo_id, manifest_refs.c.manifest_key == key
    )
    for child in list((await conn.execute(children)).scalars()):
        others = select(manifest_refs.c.child_key).where(
            manifest_refs.c.repository_id == repo_id,
            manifest_refs.c.child_key == child,
            manifest_refs.c.manifest_key != key,
        )
        manifest = select(manifests.c.blob_key).where(
            manifests.c.repository_id == repo_id, manifests.c.blob_key == child
        )
        if (await conn.execute(others.union_all(manifest).limit(1))).first() is None:
            await conn.execute(
                delete(repository_blobs).where(
                    repository_blobs.c.repository_id == repo_id,
                    repository_blobs.c.blob_key == child,
                )
            )


async def _find(
    conn: Conn, repository: str, reference: str, *, quarantined: bool = False
) -> Row[tuple[object, ...]] | None:
    """The manifest by tag or digest. One that needs a quarantined blob (its own bytes, or
    content it references) is found only when asked for (a delete): it is served as absent,
    so that clients push it again with what it needs, which heals the blob."""
    query = (
        select(manifests)
        .join(repositories, repositories.c.id == manifests.c.repository_id)
        .where(repositories.c.name == repository)
    )
    if is_digest_reference(reference):
        found = await resolve_key(conn, Digest.parse(reference), quarantined=quarantined)
        if found is None:
            return None
        query = query.where(manifests.c.blob_key == found[0])
    else:
        tagged = and_(
            tags.c.repository_id == manifests.c.repository_id,
            tags.c.manifest_key == manifests.c.blob_key,
        )
        query = query.join(tags, tagged).where(tags.c.name == reference)
    if not quarantined:
        query = query.where(~exists(_NEEDS_QUARANTINED), ~exists(_QUARANTINED_ITSELF))
    return (await conn.execute(query)).first()


async def remove_manifest(
    conn: Conn,
    row: Row[tuple[object, ...]],
    repository: str,
    actor: str,
    action: str = "manifest.delete",
) -> None:
    """Delete the manifest of `row` (repository_id, blob_key, digest): its link, its row,
    its references and its tags, in the order a push writes them (no deadlock with one)."""
    repo_id, key = row.repository_id, row.blob_key
    await conn.execute(
        delete(repository_blobs).where(
            repository_blobs.c.repository_id == repo_id, repository_blobs.c.blob_key == key
        )
    )
    await conn.execute(
        delete(manifests).where(manifests.c.repository_id == repo_id, manifests.c.blob_key == key)
    )
    await conn.execute(
        delete(manifest_refs).where(
            manifest_refs.c.repository_id == repo_id, manifest_refs.c.manifest_key == key
        )
    )
    await conn.execute(
        delete(tags).where(tags.c.repository_id == repo_id, tags.c.manifest_key == key)
    )
    await events.record(conn, actor, action, repository, digest=row.digest, key=key)


_QUARANTINED_ITSELF = select(blob_rows.c.key).where(
    blob_rows.c.key == manifests.c.blob_key, blob_rows.c.quarantined.is_not(None)
)
_NEEDS_QUARANTINED = (
    select(manifest_refs.c.child_key)
    .join(blob_rows, blob_rows.c.key == manifest_refs.c.child_key)
    .where(
        manifest_refs.c.repository_id == manifests.c.repository_id,
        manifest_refs.c.manifest_key == manifests.c.blob_key,
        blob_rows.c.quarantined.is_not(None),
    )
)


async def _resolve_references(
    conn: Conn, repository: str, manifest: Manifest, complete: bool = True, *, lock: bool = False
) -> dict[str, str]:
    """Storage key → kind (config, layer, manifest) of everything the manifest needs, checked
    for this repository a batch at a time, not a query each; the first one missing raises
    when the manifest must be `complete`."""
    needed = manifest.referenced
    if not needed:
        return {}
    digests = [d.digest for d in needed]
    found = await resolve_all_in_repository(conn, repository, digests, lock=lock)
    children: dict[str, str] = {}
    for descriptor in needed:
        key = found.get(descriptor.digest)
        if key is not None:
            children.setdefault(key, _kind(manifest, descriptor))
        elif complete and not is_non_distributable(descriptor.media_type):
            raise ManifestBlobUnknown({"digest": str(descriptor.digest)})
    return children


def _kind(manifest: Manifest, descriptor: Descriptor) -> str:
    if manifest.is_index:
        return "manifest"
    return "config" if descriptor is manifest.config else "layer"


def stored_descriptor(row: Row[tuple[object, ...]]) -> Descriptor:
    """The referrer descriptor a push saved in the manifest's row (see ManifestStore._save)."""
    annotations = json.loads(row.annotations) if row.annotations else None
    return Descriptor(
        media_type=row.media_type,
        digest=Digest.parse(row.digest),
        size=row.size,
        artifact_type=row.artifact_type,
        annotations=annotations,
    )


async def _page(conn: Conn, query: Select[tuple[str]], n: int | None) -> Page:
    if n is not None:
        query = query.limit(n + 1)
    names = list((await conn.execute(query)).scalars())
    if n is not None and len(names) > n:
        return Page(names[:n], True)
    return Page(names, False)
