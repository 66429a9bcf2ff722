"""`artifact-store migrate`: bring the metadata schema up to date, then exit."""

from __future__ import annotations

import argparse
import asyncio
import json

from registry.commands import Command
from registry.config import Settings


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from registry.preflight.database import metadata_url, migrate
    from registry.terminal_progress import progress_for
    from storage.database import display_url

    revision = asyncio.run(migrate(settings, progress_for(args.json)))
    url = display_url(metadata_url(settings))
    if args.json:
        print(json.dumps({"metadata_url": url, "revision": revision}))
    else:
        print(f"metadata database {url} is at revision {revision}")
    return 0


COMMAND = Command(
    "migrate",
    "bring the metadata database schema up to date, then exit",
    run,
    "Apply the metadata database migrations (serve also does on start). Waits up to\n"
    "metadata_connect_timeout for a database that does not answer yet; shows progress\n"
    "on a terminal.",
    arguments,
)
