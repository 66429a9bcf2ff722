"""PostgreSQL: the event sequence is 64-bit, so the log never runs out of numbers.

SQLite's INTEGER PRIMARY KEY is 64-bit already; nothing to do there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("events", "seq", type_=sa.BigInteger, existing_type=sa.Integer)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("events", "seq", type_=sa.Integer, existing_type=sa.BigInteger)
