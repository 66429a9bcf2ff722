"""PostgreSQL as the metadata database: migrations, ordering, concurrent writers, outages."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from starlette.testclient import TestClient

from registry.app import create_app
from registry.config import Settings
from storage.database import MIGRATIONS, Database
from storage.errors import ManifestUnknown, Unavailable
from storage.hashing import digests_of
from storage.store import Storage
from tests.conftest import ROOT
from tests.registry.helpers import image, push_blob, push_image
from tests.scaleout.postgres import PostgresServer


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def migrate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "registry.cli", "migrate", *args]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_migrate_brings_a_new_database_to_the_head_revision_once(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    for _ in range(2):
        done = migrate("--metadata-url", url)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().endswith(f"is at revision {head_revision()}")
    tables = postgres.psql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'", url.rsplit("/", 1)[1]
    )
    assert {"blobs", "digest_aliases", "manifests", "tags", "events", "alembic_version"} <= set(
        tables.stdout.split()
    )


@pytest.mark.parametrize("source", ["file", "environment"])
def test_migrate_takes_the_url_from_the_file_or_the_environment(
    postgres: PostgresServer, tmp_path: Path, source: str
) -> None:
    url = postgres.create_database()
    if source == "file":
        (tmp_path / "registry.toml").write_text(f'metadata_url = "{url}"\n')
        done = migrate("--config", str(tmp_path / "registry.toml"))
    else:
        done = migrate(env={"ARTIFACT_STORE_METADATA_URL": url})
    assert done.returncode == 0, done.stderr
    assert url.rsplit("/", 1)[1] in done.stdout


def test_replicas_starting_together_migrate_one_at_a_time(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    command = [sys.executable, "-m", "registry.cli", "migrate", "--metadata-url", url]
    processes = [
        subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, results


def test_migrate_reports_an_unreachable_database(postgres: PostgresServer) -> None:
    url = "postgresql://postgres@127.0.0.1:1/none"
    done = migrate("--metadata-url", url, "--metadata-connect-timeout", "1s")
    assert done.returncode == 1
    *attempts, last = done.stderr.splitlines()
    assert attempts and all("attempt" in line for line in attempts)
    assert last.startswith(f"artifact-store: metadata database {url}: unreachable for 1s")


def test_tags_and_repositories_sort_byte_by_byte(postgres: PostgresServer, tmp_path: Path) -> None:
    """As on SQLite: "B" before "a", "_" after "Z"; pagination follows the same order."""
    settings = Settings(data_dir=tmp_path / "data", metadata_url=postgres.create_database())
    names = ["b", "B", "a", "_z", "A1", "Z", "a.1", "a-1"]
    with TestClient(create_app(settings)) as client:
        for name in names:
            push_image(client, "order", name, b"same layer")
        for repo in ("zeta", "Alpha".lower(), "a-b", "a_b", "a.b"):
            push_blob(client, repo, b"x")
        listed = client.get("/v2/order/tags/list").json()["tags"]
        pages = [client.get("/v2/order/tags/list?n=3").json()["tags"]]
        while len(pages[-1]) == 3:
            pages.append(client.get(f"/v2/order/tags/list?n=3&last={pages[-1][-1]}").json()["tags"])
        catalog = client.get("/v2/_catalog").json()["repositories"]
    assert listed == sorted(names, key=str.encode)
    assert [tag for page in pages for tag in page] == listed
    assert catalog == sorted(catalog, key=str.encode)


async def test_two_writers_on_one_database_never_conflict(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """Two Storage instances (two pools, as two replicas have) push the same blobs, the
    same manifest with tags in opposite orders, and delete and re-push it, all at once."""
    url = postgres.create_database()
    one = await Storage.open(tmp_path / "data", url)
    two = await Storage.open(tmp_path / "data", url)
    try:
        bodies = await asyncio.gather(*(race(store, n) for n in range(6) for store in (one, two)))
        for n, body in enumerate(bodies[::2]):
            page = await one.manifests.list_tags(f"race/{n}", None, None)
            assert page.items == ["a", "b", "c"]  # each writer's last step was a push
            for store in (one, two):
                assert (await store.manifests.get(f"race/{n}", "b"))[1] == body
                digest = digests_of(body)["sha256"]
                assert (await store.blobs.resolve(f"race/{n}", digest)).size == len(body)
    finally:
        await one.close()
        await two.close()


async def race(store: Storage, n: int) -> bytes:
    """Push an image, delete its manifest, push it again; returns the manifest."""
    repo = f"race/{n}"
    config, layer = b'{"architecture": "amd64", "os": "linux"}', b"layer %d" % n
    for data in (config, layer):
        digests = digests_of(data)
        key = f"uploads/{os.urandom(8).hex()}/data"
        await store.objects.put_bytes(key, data)
        await store.blobs.publish(key, repo, digests, len(data), "test")
    body = image(config, layer)
    manifest = store.manifests
    await manifest.put(repo, "a", body, None, ["a", "b", "c"][:: 1 if n % 2 else -1], "test")
    digest = str(digests_of(body)["sha256"])
    with contextlib.suppress(ManifestUnknown):  # the other writer may have deleted it first
        await manifest.delete(repo, digest, "test")
    await manifest.put(repo, "a", body, None, ["c", "b", "a"], "test")
    return body


async def test_an_outage_is_unavailable_and_service_resumes(own_postgres: PostgresServer) -> None:
    db = Database(own_postgres.create_database())
    try:
        await db.migrate()
        own_postgres.stop()
        with pytest.raises(Unavailable):
            await db.ping()
        own_postgres.start()
        await db.ping()
    finally:
        await db.close()


async def test_a_hung_database_is_unavailable_not_a_hang(own_postgres: PostgresServer) -> None:
    """A server that accepts no new connection (stopped, not gone): the connect timeout."""
    url = own_postgres.create_database()
    db = Database(url)
    assert own_postgres.process is not None
    os.kill(own_postgres.process.pid, signal.SIGSTOP)
    try:
        with pytest.raises(Unavailable):
            await db.ping()
    finally:
        os.kill(own_postgres.process.pid, signal.SIGCONT)
        await db.close()
    db = Database(url)
    await db.ping()
    await db.close()
