"""Cached manifests: when the pull-through cache last asked its upstream about each tag or
digest of a cached repository, and when a client last pulled it (kept by gc while recent).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cached_manifests",
        sa.Column("repository", sa.String(255), primary_key=True),
        sa.Column("reference", sa.String(200), primary_key=True),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("fetched_at", TZ, nullable=False),
        sa.Column("last_pulled", TZ, nullable=False),
    )
    op.create_index("ix_cached_manifests_last_pulled", "cached_manifests", ["last_pulled"])


def downgrade() -> None:
    op.drop_index("ix_cached_manifests_last_pulled", "cached_manifests")
    op.drop_table("cached_manifests")
