"""Garbage collection: when a blob became eligible for collection, and which blobs a
sweep is deleting (bytes first, rows after), so a push of the same content can tell.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.add_column(sa.Column("eligible_since", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("sweeping", sa.DateTime(timezone=True)))
    op.create_index("ix_blobs_eligible_since", "blobs", ["eligible_since"])
    op.create_index("ix_blobs_sweeping", "blobs", ["sweeping"])
    op.create_index("ix_repository_blobs_blob_key", "repository_blobs", ["blob_key"])
    op.create_index("ix_manifests_blob_key", "manifests", ["blob_key"])
    op.create_index("ix_manifest_refs_child", "manifest_refs", ["repository_id", "child_key"])
    op.create_index("ix_uploads_updated", "uploads", ["updated"])


def downgrade() -> None:
    op.drop_index("ix_uploads_updated", "uploads")
    op.drop_index("ix_manifest_refs_child", "manifest_refs")
    op.drop_index("ix_manifests_blob_key", "manifests")
    op.drop_index("ix_repository_blobs_blob_key", "repository_blobs")
    op.drop_index("ix_blobs_sweeping", "blobs")
    op.drop_index("ix_blobs_eligible_since", "blobs")
    with op.batch_alter_table("blobs") as batch:
        batch.drop_column("sweeping")
        batch.drop_column("eligible_since")
