"""Metadata tables (SQLAlchemy Core). Alembic migrations create them; see migrations/."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

blobs = Table(
    "blobs",
    metadata,
    Column("key", String(64), primary_key=True),  # blake3 hex
    Column("size", BigInteger, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("verified", DateTime(timezone=True), index=True),  # last found whole; None: never
    Column("quarantined", DateTime(timezone=True)),  # found corrupt or missing: not served
    # gc: since when nothing links the blob (None: linked, or not marked yet)
    Column("eligible_since", DateTime(timezone=True), index=True),
    # gc: a sweep deleting the bytes, then the row; a push of this content must retry
    Column("sweeping", DateTime(timezone=True), index=True),
)

digest_aliases = Table(
    "digest_aliases",
    metadata,
    Column("algorithm", String(16), primary_key=True),
    Column("hex", String(128), primary_key=True),
    Column("blob_key", String(64), ForeignKey("blobs.key"), nullable=False, index=True),
)

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created", DateTime(timezone=True), nullable=False),
)

repository_blobs = Table(
    "repository_blobs",
    metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id"), primary_key=True),
    Column("blob_key", String(64), ForeignKey("blobs.key"), primary_key=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Index("ix_repository_blobs_blob_key", "blob_key"),
)

manifests = Table(
    "manifests",
    metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id"), primary_key=True),
    Column("blob_key", String(64), ForeignKey("blobs.key"), primary_key=True),
    Column("digest", String(200), nullable=False),  # as pushed, e.g. sha256:…
    Column("media_type", String(255), nullable=False),
    Column("artifact_type", String(255)),
    Column("subject", String(200)),
    Column("size", BigInteger, nullable=False),
    Column("annotations", Text),  # JSON object, for referrers listings
    Column("created", DateTime(timezone=True), nullable=False),
    Index("ix_manifests_subject", "repository_id", "subject"),
    Index("ix_manifests_blob_key", "blob_key"),
)

manifest_refs = Table(
    "manifest_refs",
    metadata,
    Column("repository_id", Integer, primary_key=True),
    Column("manifest_key", String(64), primary_key=True),
    Column("child_key", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # config, layer, manifest
    Index("ix_manifest_refs_child", "repository_id", "child_key"),
)

tags = Table(
    "tags",
    metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("manifest_key", String(64), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("repository", String(255), nullable=False, index=True),
    Column("algorithm", String(16)),  # extra digest algorithm asked for, if any
    Column("size", BigInteger, nullable=False),
    Column("started", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False, index=True),
    # who opened it (a user, or an address), for max_upload_sessions_per_client
    Column("client", String(255), index=True),
)

events = Table(
    "events",
    metadata,
    # 64-bit on PostgreSQL; SQLite's rowid alias must be spelled INTEGER.
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(32), nullable=False),
    Column("repository", String(255)),
    Column("payload", LargeBinary, nullable=False),  # canonical CBOR
)

notification_cursors = Table(
    "notification_cursors",
    metadata,
    Column("sink", String(255), primary_key=True),  # the [[notifications]] name
    Column("seq", BigInteger, nullable=False),  # last event delivered (or skipped by the filter)
    Column("lease_owner", String(128)),  # the process delivering this sink, while its lease lasts
    Column("lease_expires", DateTime(timezone=True)),
    Column("updated", DateTime(timezone=True), nullable=False),
)

storage_usage = Table(
    "storage_usage",
    metadata,
    Column("id", Integer, primary_key=True),  # one row, id 1
    Column("blobs", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("uploads", BigInteger, nullable=False),  # upload sessions open
    Column("counted", DateTime(timezone=True)),  # None: never counted
    Column("counting_until", DateTime(timezone=True)),  # a process counts until then
)

leases = Table(
    "leases",
    metadata,
    # a job that one process of all the workers and replicas runs at a time: gc, scrub
    Column("name", String(64), primary_key=True),
    Column("owner", String(128)),
    Column("expires", DateTime(timezone=True)),
)

cached_manifests = Table(
    "cached_manifests",
    metadata,
    # a tag or digest of a repository that caches an upstream (registry/proxy/)
    Column("repository", String(255), primary_key=True),
    Column("reference", String(200), primary_key=True),  # tag, or digest as asked for
    Column("digest", String(200), nullable=False),  # the manifest's digest upstream
    Column("fetched_at", DateTime(timezone=True), nullable=False),  # last asked upstream
    Column("last_pulled", DateTime(timezone=True), nullable=False),  # last served to a client
    Index("ix_cached_manifests_last_pulled", "last_pulled"),
)
