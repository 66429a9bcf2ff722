"""Upload sessions remember who opened them, for the cap of open sessions per client
(max_upload_sessions_per_client). Sessions opened before have no client and count for
no one. Both caps count sessions by an index (the repository had none).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("uploads", sa.Column("client", sa.String(255)))
    op.create_index("ix_uploads_client", "uploads", ["client"])
    op.create_index("ix_uploads_repository", "uploads", ["repository"])


def downgrade() -> None:
    op.drop_index("ix_uploads_repository", "uploads")
    op.drop_index("ix_uploads_client", "uploads")
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("client")
