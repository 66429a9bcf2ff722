"""Blob integrity: when each blob was last verified, and whether it is quarantined.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("blobs", sa.Column("verified", sa.DateTime(timezone=True)))
    op.add_column("blobs", sa.Column("quarantined", sa.DateTime(timezone=True)))
    op.create_index("ix_blobs_verified", "blobs", ["verified"])


def downgrade() -> None:
    op.drop_index("ix_blobs_verified", "blobs")
    with op.batch_alter_table("blobs") as batch:
        batch.drop_column("quarantined")
        batch.drop_column("verified")
