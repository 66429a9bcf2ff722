"""The migrations build exactly the schema storage/schema.py declares: tables, columns and
indexes, on SQLite (the scale-out tests migrate PostgreSQL the same way)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.database import default_url, migrate_url, sqlite_file
from storage.schema import metadata


async def test_migrated_schema_matches_the_declared_one(tmp_path: Path) -> None:
    url = default_url(tmp_path)
    await migrate_url(url, tmp_path)
    file = sqlite_file(url)
    assert file is not None
    engine = sa.create_engine(f"sqlite:///{file}")
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []
