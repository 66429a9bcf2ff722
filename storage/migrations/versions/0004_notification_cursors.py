"""Notification cursors (each webhook sink's place in the event log, and the lease of the
process delivering it) and the storage usage row (blobs, bytes and upload sessions,
counted now and then by one process for the metrics).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notification_cursors",
        sa.Column("sink", sa.String(255), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("lease_expires", TZ),
        sa.Column("updated", TZ, nullable=False),
    )
    usage = op.create_table(
        "storage_usage",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("blobs", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("uploads", sa.BigInteger, nullable=False),
        sa.Column("counted", TZ),
        sa.Column("counting_until", TZ),
    )
    op.bulk_insert(usage, [{"id": 1, "blobs": 0, "bytes": 0, "uploads": 0}])


def downgrade() -> None:
    op.drop_table("storage_usage")
    op.drop_table("notification_cursors")
