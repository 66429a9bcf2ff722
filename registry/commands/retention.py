"""`artifact-store retention [--dry-run]`: delete the tags and manifests [[retention]] lets
go (docs/policy.md); their blobs are left to the garbage collector."""

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
    from storage.retention import RetentionPlan


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be deleted, change nothing"
    )
    parser.add_argument("--json", action="store_true", help="print the plan as one JSON object")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from storage.errors import Unavailable

    if no_registry(settings):
        return 1
    try:
        found = asyncio.run(_apply(settings, args.dry_run))
    except Unavailable as exc:
        print(f"artifact-store: {exc.detail}", file=sys.stderr)
        return 1
    print(json.dumps(found.document()) if args.json else _text(found))
    return 0


async def _apply(settings: Settings, dry_run: bool) -> RetentionPlan:
    from registry.policy_rules import storage_policy
    from storage.retention import ACTOR, apply_retention
    from storage.store import Storage

    policy = storage_policy(settings)
    storage = await Storage.open(
        Path(settings.data_dir), settings.metadata_url, settings.s3, migrate=False, policy=policy
    )
    try:
        return await apply_retention(storage.manifests, policy, dry_run=dry_run, actor=ACTOR)
    finally:
        await storage.close()


def _text(found: RetentionPlan) -> str:
    from storage.retention import victims_text

    verb = "would delete" if found.dry_run else "deleted"
    summary = f"retention {verb} {len(found.tags)} tags and {len(found.manifests)} manifests"
    return "\n".join([*victims_text(found), summary])


COMMAND = Command(
    "retention",
    "delete the tags and manifests the [[retention]] rules let go (--dry-run: list them)",
    run,
    "Apply the [[retention]] rules of the settings to the registry they point at:\n"
    "tags not kept by keep_tags, keep_most_recent or pushed_within are deleted (never\n"
    "immutable ones), with their manifests when nothing else names them; each deletion\n"
    "is an event. The blobs they leave unreferenced go at the next garbage collection\n"
    "(`artifact-store gc` applies these rules too, before it collects).\n"
    "--dry-run lists the victims and changes nothing.",
    arguments,
)
