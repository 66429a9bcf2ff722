"""`artifact-store gc` as an operator runs it: its JSON, its refusals, and the gc lease."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from storage import gc
from storage.database import Database, default_url
from storage.leases import Leases
from tests.registry.cli_process import run

FIELDS = {
    "dry_run",
    "blobs",
    "bytes",
    "manifests",
    "uploads",
    "upload_bytes",
    "links",
    "marked",
    "orphans",
    "seconds",
    "stage_seconds",
    "retention",  # the victims of the [[retention]] rules, applied first
}


def test_json_has_every_field(tmp_path: Path) -> None:
    assert run("migrate", "--data-dir", str(tmp_path / "data")).returncode == 0
    done = run("gc", "--data-dir", str(tmp_path / "data"), "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == FIELDS
    assert report["dry_run"] is True and report["blobs"] == []
    assert report["retention"] == {"dry_run": True, "tags": [], "manifests": []}


def test_a_mistyped_data_dir_is_refused_not_made(tmp_path: Path) -> None:
    done = run("gc", "--data-dir", str(tmp_path / "typo"), "--json")
    assert done.returncode == 1
    assert "no registry in" in done.stderr and done.stdout == ""
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--grace", "5 parsecs"], "--grace must be a duration", id="bad-grace"),
        pytest.param(["--read-only"], "read_only is set", id="read-only"),
    ],
)
def test_refusals(tmp_path: Path, args: list[str], message: str) -> None:
    done = run("gc", "--data-dir", str(tmp_path / "data"), *args)
    assert done.returncode == 2
    assert message in done.stderr


def test_waits_its_turn_while_another_process_collects(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert run("migrate", "--data-dir", str(data_dir)).returncode == 0
    asyncio.run(_hold_lease(data_dir))
    done = run("gc", "--data-dir", str(data_dir))
    assert done.returncode == 75
    assert "another process is collecting" in done.stderr


async def _hold_lease(data_dir: Path) -> None:
    db = Database(default_url(data_dir))
    try:
        assert await Leases(db).claim(gc.LEASE, "another/1/gc", 600)
    finally:
        await db.close()
