"""`artifact-store gc`: apply the [[retention]] rules, then collect garbage once, against a
registry that keeps serving."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from registry.commands import Command, no_registry
from registry.config import ConfigError, Settings, parse_duration

if TYPE_CHECKING:
    from storage.gc import Policy, Report
    from storage.retention import Collection

BUSY = 75  # EX_TEMPFAIL: another process is collecting; try again later


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="report what would be collected, change nothing"
    )
    parser.add_argument(
        "--grace", metavar="DURATION", help="the gc_grace setting for this run (30s, 90m, 24h)"
    )
    parser.add_argument(
        "--delete-untagged",
        action="store_true",
        default=None,
        help="the gc_delete_untagged setting, on, for this run",
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def policy_of(args: argparse.Namespace, settings: Settings) -> Policy:
    from registry.proxy.upstreams import collected_caches
    from storage.gc import Policy

    grace = settings.gc_grace if args.grace is None else parse_duration(args.grace, "--grace")
    return Policy(
        grace=grace,
        upload_max_age=settings.upload_max_age,
        delete_untagged=bool(args.delete_untagged or settings.gc_delete_untagged),
        keep_orphan_referrers=settings.gc_keep_orphan_referrers,
        dry_run=args.dry_run,
        caches=collected_caches(settings),
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from storage.errors import Unavailable

    try:
        policy = policy_of(args, settings)
    except ConfigError as exc:
        print(f"artifact-store: {exc}", file=sys.stderr)
        return 2
    if settings.read_only and not policy.dry_run:
        print("artifact-store: read_only is set: gc would write; use --dry-run", file=sys.stderr)
        return 2
    if no_registry(settings):
        return 1
    try:
        done = asyncio.run(_collect(settings, policy))
    except Unavailable as exc:
        print(f"artifact-store: gc stopped: {exc.detail}", file=sys.stderr)
        return 1
    if done is None or done.report is None:
        if done is not None:
            print(_retention_text(done), file=sys.stderr)
        print("artifact-store: another process is collecting garbage", file=sys.stderr)
        return BUSY
    print(json.dumps(done.document()) if args.json else _text(done, done.report))
    return 0


async def _collect(settings: Settings, policy: Policy) -> Collection | None:
    from registry.policy_rules import storage_policy
    from storage.leases import owner_name
    from storage.retention import retain_then_collect
    from storage.store import Storage

    rules = storage_policy(settings)
    storage = await Storage.open(
        Path(settings.data_dir), settings.metadata_url, settings.s3, policy=rules
    )
    try:
        return await retain_then_collect(storage.manifests, storage.objects, policy, owner_name())
    finally:
        await storage.close()


def _text(done: Collection, report: Report) -> str:
    return "\n".join(filter(None, [_retention_text(done), summary(report)]))


def _retention_text(done: Collection) -> str:
    """The victims of retention, a line each, and their count; empty without victims."""
    from storage.retention import victims_text

    found = done.retention
    if not found.tags and not found.manifests:
        return ""
    verb = "would delete" if found.dry_run else "deleted"
    count = f"retention {verb} {len(found.tags)} tags and {len(found.manifests)} manifests"
    return "\n".join([*victims_text(found), count])


def summary(report: Report) -> str:
    verb = "would remove" if report.dry_run else "removed"
    return (
        f"gc {verb} {len(report.blobs)} blobs ({report.bytes} bytes),"
        f" {len(report.manifests)} manifests, {report.links} links,"
        f" {report.uploads} upload sessions ({report.upload_bytes} bytes),"
        f" {report.orphans} orphan objects; marked {report.marked}; {report.seconds:.1f}s"
    )


COMMAND = Command(
    "gc",
    "apply [[retention]], then collect garbage once: unreferenced blobs, untagged manifests,"
    " abandoned uploads",
    run,
    "Apply the [[retention]] rules (as `artifact-store retention` does), then remove\n"
    "what nothing references any more, while the registry keeps serving:\n"
    "links no manifest needs, then blobs unlinked for longer than the grace period\n"
    "(gc_grace), upload sessions idle longer than upload_max_age, and with\n"
    "--delete-untagged manifests no tag holds. --grace 0s marks and sweeps in one run\n"
    "(so the blobs of the manifests retention deleted go in the same run).\n"
    "--dry-run lists retention's victims and what would be collected, changes nothing.\n"
    "One collector runs at a time (exit status 75 when another holds the gc lease).",
    arguments,
)
