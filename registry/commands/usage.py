"""`artifact-store usage`: per repository its logical, unique and shared bytes; the
store's totals and dedupe; each quota's use."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from registry.commands import Command, no_registry
from registry.config import Settings
from registry.units import format_size

if TYPE_CHECKING:
    from storage.usage_report import UsageReport


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repository", metavar="NAME", help="report this repository only")
    parser.add_argument(
        "--json", action="store_true", help="the document GET /v2/_usage serves, in bytes"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from storage.database import default_url, display_url
    from storage.errors import Unavailable

    url = settings.metadata_url or default_url(Path(settings.data_dir))
    if no_registry(settings):
        return 1
    try:
        found = asyncio.run(_report(url, settings, args.repository))
    except Unavailable as exc:
        print(f"artifact-store: {exc.detail}: {display_url(url)}", file=sys.stderr)
        return 1
    print(json.dumps(found.document(), indent=2) if args.json else text(found))
    return 0


async def _report(url: str, settings: Settings, repository: str | None) -> UsageReport:
    from registry.policy_rules import storage_policy
    from storage import usage_report
    from storage.database import Database

    db = Database(url)
    try:
        return await usage_report.report(db, storage_policy(settings), repository)
    finally:
        await db.close()


def text(found: UsageReport) -> str:
    headings = " ".join(f"{heading:>10}" for heading in ("LOGICAL", "UNIQUE", "SHARED"))
    lines = [f"{'REPOSITORY':<40} {'MANIFESTS':>9} {'TAGS':>6} {headings}"]
    for usage in found.repositories:
        sizes = (usage.logical_bytes, usage.unique_bytes, usage.shared_bytes)
        lines.append(
            f"{usage.name:<40} {usage.manifests:>9} {usage.tags:>6} "
            + " ".join(f"{format_size(size):>10}" for size in sizes)
        )
    lines.append(
        f"stored {format_size(found.stored_bytes)}, logical {format_size(found.logical_bytes)},"
        f" dedupe ratio {found.dedupe_ratio:.2f}"
        f" (saves {format_size(found.dedupe_savings_bytes)})"
    )
    for quota in found.quotas:
        share = quota.used_bytes / quota.max_bytes if quota.max_bytes else 1.0
        lines.append(
            f"quota {quota.quota} ({', '.join(quota.repositories)}):"
            f" {format_size(quota.used_bytes)} of {format_size(quota.max_bytes)} ({share:.0%})"
        )
    return "\n".join(lines)


COMMAND = Command(
    "usage",
    "report bytes per repository (logical, unique, shared), dedupe and quota use",
    run,
    "Report, for the registry the settings point at, each repository's manifests,\n"
    "tags and bytes: logical (its blobs, each once), unique (held by no other\n"
    "repository) and shared; the store's stored and logical bytes and dedupe ratio;\n"
    "and each [[quota]]'s use against its limit. --json prints what GET /v2/_usage serves.",
    arguments,
)
