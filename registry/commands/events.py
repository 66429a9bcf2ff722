"""`artifact-store events`: print the event log from a place on, and follow it."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from registry.commands import Command, no_registry
from registry.config import Settings

if TYPE_CHECKING:
    from storage.database import Database
    from storage.events import Event

PAGE = 500
FOLLOW_EVERY = 1.0  # seconds between looks for new events with --follow


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--after", type=_seq, default=0, metavar="SEQ", help="start after event SEQ (default 0)"
    )
    parser.add_argument(
        "--follow", action="store_true", help="go on printing new events until interrupted"
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per event, as /v2/_events has them"
    )


def _seq(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise argparse.ArgumentTypeError(f"not an event number: {value!r}")
    return int(value)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from storage.database import default_url, display_url
    from storage.errors import Unavailable

    url = settings.metadata_url or default_url(Path(settings.data_dir))
    if no_registry(settings):
        return 1
    try:
        asyncio.run(_print_events(url, args.after, args.follow, args.json))
    except KeyboardInterrupt:
        return 0
    except Unavailable as exc:
        print(f"artifact-store: {exc.detail}: {display_url(url)}", file=sys.stderr)
        return 1
    return 0


async def _print_events(url: str, after: int, follow: bool, as_json: bool) -> None:
    from storage.database import Database

    db = Database(url)
    try:
        await _follow(db, after, follow, as_json)
    finally:
        await db.close()


async def _follow(db: Database, after: int, follow: bool, as_json: bool) -> None:
    from storage import events

    while True:
        page = await events.after(db, after, PAGE)
        for event in page:
            print(event.json() if as_json else line(event), flush=True)
        if page:
            after = page[-1].seq
        elif not follow:
            return
        else:
            await asyncio.sleep(FOLLOW_EVERY)


def line(event: Event) -> str:
    """`SEQ  TIME  ACTION  REPOSITORY[:TAG|@DIGEST]  ACTOR`"""
    from storage.events import rfc3339

    fields = event.fields()
    target = fields.get("repository") or "-"
    if fields.get("tag"):
        target += f":{fields['tag']}"
    elif fields.get("digest"):
        target += f"@{fields['digest']}"
    when = rfc3339(fields["time"])
    return f"{event.seq:>8}  {when}  {fields['action']:<15}  {target}  {fields.get('actor', '-')}"


COMMAND = Command(
    "events",
    "print the event log (pushes, deletes, mounts, pulls), or follow it",
    run,
    "Print the event log of the registry the settings point at, oldest first:\n"
    "a line per event, or with --json the records /v2/_events serves.",
    arguments,
)
