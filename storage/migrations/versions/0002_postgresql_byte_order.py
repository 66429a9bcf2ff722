"""PostgreSQL: tag and repository names compare byte by byte, as on SQLite.

Tag lists and the catalog are ordered and paginated by name (`n`, `last`).
SQLite compares text byte by byte; PostgreSQL uses the database's locale, where
"B" may sort after "a". The "C" collation gives both the same order. Nothing
to do on other databases.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = (("tags", "name", 128), ("repositories", "name", 255))


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate(None)


def _collate(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length in COLUMNS:
        op.alter_column(table, column, type_=sa.String(length, collation=collation))
