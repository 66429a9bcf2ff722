"""`artifact-store verify`: re-hash the stored blobs, report and quarantine what is wrong.

Runs beside a serving registry (online): every blob (or the blobs of one
repository) is read and hashed with BLAKE3 and checked against its key and size;
rows whose object is gone are missing; objects of the blob tree no row knows are
orphans (reported, left to gc). Corrupt and missing blobs are quarantined: no
longer served until a push of the same content heals them. Exit status 0 when
the store is intact, 1 when something was found, 2 when the scan could not run.
`--workers N` (the setting serve reads as its processes) is the number of blobs
hashed at once, one per core by default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from registry.commands import Command, no_registry
from registry.config import Settings

if TYPE_CHECKING:
    from storage.progress import Progress
    from storage.verify import ScrubReport

INTACT, FOUND, FAILED = 0, 1, 2


def arguments(parser: argparse.ArgumentParser) -> None:
    # --workers N is the setting of that name: here, the blobs hashed at once.
    parser.add_argument(
        "--repository", metavar="NAME", help="check only the blobs of this repository"
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from registry.terminal_progress import progress_for
    from storage.errors import StorageError

    if no_registry(settings):
        return FAILED
    try:
        report = asyncio.run(_scan(settings, args, progress_for(args.json)))
    except (StorageError, OSError) as exc:
        print(f"artifact-store: verify failed: {exc}", file=sys.stderr)
        return FAILED
    print(json.dumps(report.as_json()) if args.json else text(report))
    return INTACT if report.intact else FOUND


async def _scan(settings: Settings, args: argparse.Namespace, progress: Progress) -> ScrubReport:
    from storage.errors import SchemaError
    from storage.store import Storage
    from storage.verify import Scrubber

    storage = await Storage.open(
        Path(settings.data_dir), settings.metadata_url, settings.s3, migrate=False
    )
    try:
        schema = await storage.db.schema()
        if schema.pending or not schema.known:
            raise SchemaError(f"schema at {schema.current}, not {schema.head}: run migrate")
        scrubber = Scrubber(storage.blobs, workers=settings.workers)  # None: one per core
        return await scrubber.run(args.repository, progress=progress)
    finally:
        await storage.close()


def text(report: ScrubReport) -> str:
    summary = report.as_json()
    rate = summary["bytes_per_second"] / 1e6
    lines = [
        f"checked {report.checked} blobs, {report.bytes} bytes in {report.seconds:.2f}s"
        f" ({rate:.1f} MB/s)"
    ]
    for label in ("corrupt", "missing", "quarantined"):
        lines += [f"{label:12} {digest}" for digest in sorted(getattr(report, label))]
    lines += [f"{'orphan':12} {key}" for key in report.orphans]
    lines.append("store intact" if report.intact else "store NOT intact")
    return "\n".join(lines)


COMMAND = Command(
    "verify",
    "re-hash every stored blob, report and quarantine what is corrupt or missing",
    run,
    __doc__,
    arguments,
)
