"""Initial schema: blobs, aliases, repositories, manifests, tags, uploads, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created", TZ, nullable=False),
    )
    op.create_table(
        "digest_aliases",
        sa.Column("algorithm", sa.String(16), primary_key=True),
        sa.Column("hex", sa.String(128), primary_key=True),
        sa.Column("blob_key", sa.String(64), sa.ForeignKey("blobs.key"), nullable=False),
    )
    op.create_index("ix_digest_aliases_blob_key", "digest_aliases", ["blob_key"])
    op.create_table(
        "repositories",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created", TZ, nullable=False),
    )
    op.create_table(
        "repository_blobs",
        sa.Column("repository_id", sa.Integer, sa.ForeignKey("repositories.id"), primary_key=True),
        sa.Column("blob_key", sa.String(64), sa.ForeignKey("blobs.key"), primary_key=True),
        sa.Column("created", TZ, nullable=False),
    )
    op.create_table(
        "manifests",
        sa.Column("repository_id", sa.Integer, sa.ForeignKey("repositories.id"), primary_key=True),
        sa.Column("blob_key", sa.String(64), sa.ForeignKey("blobs.key"), primary_key=True),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("artifact_type", sa.String(255)),
        sa.Column("subject", sa.String(200)),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("annotations", sa.Text),
        sa.Column("created", TZ, nullable=False),
    )
    op.create_index("ix_manifests_subject", "manifests", ["repository_id", "subject"])
    op.create_table(
        "manifest_refs",
        sa.Column("repository_id", sa.Integer, primary_key=True),
        sa.Column("manifest_key", sa.String(64), primary_key=True),
        sa.Column("child_key", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
    )
    op.create_table(
        "tags",
        sa.Column("repository_id", sa.Integer, sa.ForeignKey("repositories.id"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("manifest_key", sa.String(64), nullable=False),
        sa.Column("updated", TZ, nullable=False),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("algorithm", sa.String(16)),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("started", TZ, nullable=False),
        sa.Column("updated", TZ, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("time", TZ, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("repository", sa.String(255)),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "events",
        "uploads",
        "tags",
        "manifest_refs",
        "manifests",
        "repository_blobs",
        "repositories",
        "digest_aliases",
        "blobs",
    ):
        op.drop_table(table)
