"""`artifact-store migrate`: bring the metadata schema up to date, then exit."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from registry.commands import Command
from registry.config import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    from storage.database import default_url, display_url, migrate_url
    from storage.errors import Unavailable

    url = settings.metadata_url or default_url(Path(settings.data_dir))
    try:
        revision = asyncio.run(migrate_url(url, Path(settings.data_dir)))
    except Unavailable as exc:
        print(f"artifact-store: {exc.detail}: {display_url(url)}", file=sys.stderr)
        return 1
    print(f"metadata database {display_url(url)} is at revision {revision}")
    return 0


COMMAND = Command(
    "migrate",
    "bring the metadata database schema up to date, then exit",
    run,
    "Apply the metadata database migrations (serve also does on start).",
)
