"""Leases: which process runs a registry-wide job (gc, scrub) while others wait.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128)),
        sa.Column("expires", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("leases")
