"""`python -m bench.gc_store`: garbage collection over a large store on the embedded default
(SQLite + filesystem): seconds and peak RSS of `artifact-store gc`, as docs/benchmarks.md
reports them.

The store is written directly (rows through SQLAlchemy, one small file per blob), since
pushing 100,000 blobs through the API would measure the pushes: MANIFESTS images of
LAYERS layers and a config each, spread over REPOSITORIES repositories; one image in
GARBAGE_EVERY is deleted (its rows gone as a manifest DELETE leaves them), so a run has
that share of links, blobs and files to remove. Then: `gc --dry-run`, `gc` with no grace
(marks and sweeps), and `gc` again on the clean store. Each is a process of its own; its
peak RSS is its ru_maxrss.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert

from storage import layout
from storage.database import default_url, migrate_url, sqlite_url
from storage.schema import (
    blobs,
    digest_aliases,
    manifest_refs,
    manifests,
    repositories,
    repository_blobs,
    tags,
)

MANIFESTS = 10_000
LAYERS = 9  # plus a config: 10 blobs an image, 100,000 blobs for 10,000 images
REPOSITORIES = 100
GARBAGE_EVERY = 10
CHUNK = 5_000


def build(data_dir: Path, images: int) -> dict[str, int]:
    import asyncio

    asyncio.run(migrate_url(default_url(data_dir), data_dir))
    engine = create_engine(sqlite_url(default_url(data_dir)))
    now = datetime.now(UTC)
    counts = {"blobs": 0, "manifests": images, "garbage_images": 0}
    with engine.begin() as conn:
        conn.execute(
            insert(repositories),
            [{"id": i + 1, "name": f"bench/repo{i}", "created": now} for i in range(REPOSITORIES)],
        )
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    for number in range(images):
        _image(data_dir, number, now, rows, counts)
        if len(rows["blobs"]) >= CHUNK:
            _flush(engine, rows)
    _flush(engine, rows)
    engine.dispose()
    return counts


TABLES = ("blobs", "digest_aliases", "repository_blobs", "manifests", "manifest_refs", "tags")
_TABLE = {
    "blobs": blobs,
    "digest_aliases": digest_aliases,
    "repository_blobs": repository_blobs,
    "manifests": manifests,
    "manifest_refs": manifest_refs,
    "tags": tags,
}


def _image(
    data_dir: Path,
    number: int,
    now: datetime,
    rows: dict[str, list[dict[str, Any]]],
    counts: dict[str, int],
) -> None:
    repo_id = number % REPOSITORIES + 1
    deleted = number % GARBAGE_EVERY == 0
    children = [_blob(data_dir, now, rows) for _ in range(LAYERS + 1)]
    manifest = _blob(data_dir, now, rows)
    counts["blobs"] += LAYERS + 2
    counts["garbage_images"] += deleted
    for key in children:
        rows["repository_blobs"].append({"repository_id": repo_id, "blob_key": key, "created": now})
    if deleted:
        return  # a manifest DELETE took its row, its link, its refs and its tags
    link = {"repository_id": repo_id, "blob_key": manifest, "created": now}
    rows["repository_blobs"].append(link)
    rows["manifests"].append(
        {
            "repository_id": repo_id,
            "blob_key": manifest,
            "digest": f"sha256:{secrets.token_hex(32)}",
            "media_type": "application/vnd.oci.image.manifest.v1+json",
            "size": 512,
            "created": now,
        }
    )
    for index, key in enumerate(children):
        kind = "config" if index == 0 else "layer"
        rows["manifest_refs"].append(
            {"repository_id": repo_id, "manifest_key": manifest, "child_key": key, "kind": kind}
        )
    rows["tags"].append(
        {"repository_id": repo_id, "name": f"v{number}", "manifest_key": manifest, "updated": now}
    )


def _blob(data_dir: Path, now: datetime, rows: dict[str, list[dict[str, Any]]]) -> str:
    key = secrets.token_hex(32)
    path = data_dir / "objects" / layout.blob_key(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.encode())
    rows["blobs"].append({"key": key, "size": len(key), "created": now})
    rows["digest_aliases"].append({"algorithm": "blake3", "hex": key, "blob_key": key})
    rows["digest_aliases"].append(
        {"algorithm": "sha256", "hex": secrets.token_hex(32), "blob_key": key}
    )
    return key


def _flush(engine: Any, rows: dict[str, list[dict[str, Any]]]) -> None:
    with engine.begin() as conn:
        for name in TABLES:
            if rows[name]:
                conn.execute(insert(_TABLE[name]), rows[name])
                rows[name].clear()


def timed_gc(data_dir: Path, *args: str) -> dict[str, Any]:
    """One `artifact-store gc --json` process: its report, wall seconds and peak RSS (MiB)."""
    exe = shutil.which("artifact-store", path=str(Path(sys.executable).parent))
    started = time.monotonic()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            [exe or "artifact-store", "gc", "--data-dir", str(data_dir), "--json", *args],
            stdout=out,
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        assert process.returncode == 0, f"gc exited with {process.returncode}"
        out.seek(0)
        report = json.loads(out.read())
    return {
        "args": " ".join(args),
        "wall_seconds": round(seconds, 2),
        "gc_seconds": report["seconds"],
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        "blobs": len(report["blobs"]),
        "manifests": len(report["manifests"]),
        "links": report["links"],
        "marked": report["marked"],
        "bytes": report["bytes"],
        "stage_seconds": report["stage_seconds"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gc_store", description=__doc__)
    parser.add_argument("--images", type=int, default=MANIFESTS, help="images (10 blobs each)")
    parser.add_argument("--work-dir", type=Path, help="parent of the store (default: a temp dir)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="gc-bench-", dir=args.work_dir))
    data_dir = work / "data"
    try:
        started = time.monotonic()
        counts = build(data_dir, args.images)
        print(json.dumps({"built": counts, "seconds": round(time.monotonic() - started, 1)}))
        for run in (("--dry-run", "--grace", "0s"), ("--grace", "0s"), ("--grace", "0s")):
            print(json.dumps(timed_gc(data_dir, *run)), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
