"""Immutable tags, quotas, retention and usage through real clients (crane, oras) and the
`artifact-store` command, against a live server whose TOML file holds the rules."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import httpx
import pytest

from storage import layout
from tests.conftest import LiveServer, start_server, stop_server

from .commands import CommandFailed, run, tool

pytestmark = pytest.mark.clients

QUOTA = 300_000
RULES = f"""
[[immutable_tags]]
repositories = ["prod/**"]
tags = ["v*", "release-*"]

[[quota]]
repositories = ["team/**"]
max_bytes = {QUOTA}

[[retention]]
repositories = ["ci/**"]
keep_tags = ["release-*"]
keep_most_recent = 2
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "registry.toml"
    path.write_text(RULES)
    return path


@pytest.fixture(scope="module")
def server(config: Path) -> Iterator[LiveServer]:
    live = start_server(config.parent / "data", "--config", str(config), "--workers", "1")
    yield live
    stop_server(live)


def crane(*args: str, **kwargs: Any) -> Any:
    return run([tool("crane"), "--insecure", *args], **kwargs)


def oras_push(server: LiveServer, ref: str, directory: Path, *files: str, **kwargs: Any) -> Any:
    """Push files as an artifact; run from `directory` so the paths are plain names."""
    argv = [tool("oras"), "push", "--plain-http", f"{server.host}/{ref}", *files]
    return run(argv, cwd=directory, **kwargs)


def write(directory: Path, name: str, data: bytes) -> str:
    directory.mkdir(exist_ok=True)
    (directory / name).write_bytes(data)
    return name


def store_command(config: Path, server: LiveServer, *args: str) -> str:
    exe = shutil.which("artifact-store", path=str(Path(sys.executable).parent))
    assert exe is not None
    argv = [exe, *args, "--config", str(config), "--data-dir", str(server.data_dir)]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout


def status(server: LiveServer, path: str, method: str = "GET") -> int:
    accept = "application/vnd.oci.image.manifest.v1+json"
    return httpx.request(method, f"{server.url}{path}", headers={"Accept": accept}).status_code


def test_crane_cannot_move_or_delete_an_immutable_tag(server: LiveServer, tmp_path: Path) -> None:
    repo = f"{server.host}/prod/app"
    oras_push(server, "prod/app:one", tmp_path, write(tmp_path, "a.txt", b"first\n"))
    oras_push(server, "prod/app:two", tmp_path, write(tmp_path, "b.txt", b"second\n"))
    first = crane("digest", f"{repo}:one").stdout.strip()
    crane("tag", f"{repo}:one", "v1")
    crane("tag", f"{repo}:one", "v1")  # the same digest again: clients retry
    with pytest.raises(
        CommandFailed, match=r"DENIED: tag prod/app:v1 is immutable under immutable_t"
    ):
        crane("tag", f"{repo}:two", "v1")
    assert crane("digest", f"{repo}:v1").stdout.strip() == first
    with pytest.raises(CommandFailed, match=r"immutable_tags rule 1.*cannot be deleted"):
        crane("delete", f"{repo}:v1")
    with pytest.raises(CommandFailed, match=r"cannot be deleted with its manifest"):
        crane("delete", f"{repo}@{first}")
    crane("tag", f"{repo}:one", "latest")
    crane("tag", f"{repo}:two", "latest")  # latest stays mutable
    assert crane("digest", f"{repo}:latest").stdout.strip() != first
    assert crane("digest", f"{repo}:v1").stdout.strip() == first


def test_oras_push_over_a_namespace_quota(server: LiveServer, tmp_path: Path) -> None:
    shared = os.urandom(200_000)
    oras_push(server, "team/one:v1", tmp_path, write(tmp_path, "shared.bin", shared))
    # the same bytes in another repository of the namespace count once
    oras_push(server, "team/two:v1", tmp_path, "shared.bin")
    oras_push(server, "team/one:v1", tmp_path, "shared.bin")  # a re-push adds nothing
    extra = os.urandom(150_000)
    refused = oras_push(
        server, "team/two:v2", tmp_path, write(tmp_path, "extra.bin", extra), check=False
    )
    assert refused.returncode != 0
    assert "quota 1 (repositories team/**; 300000 bytes) exceeded" in refused.stderr
    assert "bytes over the limit" in refused.stderr
    digest = "sha256:" + hashlib.sha256(extra).hexdigest()
    assert status(server, f"/v2/team/two/blobs/{digest}", "HEAD") == 404
    assert status(server, "/v2/team/two/manifests/v2") == 404
    usage = httpx.get(f"{server.url}/v2/_usage").json()
    used = next(q["used_bytes"] for q in usage["quotas"] if q["repositories"] == ["team/**"])
    assert 200_000 < used < 200_000 + 150_000 and used <= QUOTA


def test_retention_keeps_the_release_and_the_two_newest(
    server: LiveServer, config: Path, tmp_path: Path
) -> None:
    tags = ["release-1", "a", "b", "c", "d", "e"]
    digests = {}
    for tag in tags:  # one after the other: each pushed later than the one before
        oras_push(
            server, f"ci/app:{tag}", tmp_path, write(tmp_path, f"{tag}.txt", tag.encode() * 999)
        )
        digests[tag] = crane("digest", f"{server.host}/ci/app:{tag}").stdout.strip()
    plan = json.loads(store_command(config, server, "retention", "--dry-run", "--json"))
    assert sorted(victim["tag"] for victim in plan["tags"]) == ["a", "b", "c"]
    assert sorted(victim["digest"] for victim in plan["manifests"]) == sorted(
        digests[tag] for tag in "abc"
    )
    assert sorted(crane("ls", f"{server.host}/ci/app").stdout.split()) == sorted(tags)
    text = store_command(config, server, "retention")
    assert "retention deleted 3 tags and 3 manifests" in text
    assert sorted(crane("ls", f"{server.host}/ci/app").stdout.split()) == ["d", "e", "release-1"]
    for tag in "abc":
        assert status(server, f"/v2/ci/app/manifests/{digests[tag]}") == 404
        layer = "sha256:" + hashlib.sha256(tag.encode() * 999).hexdigest()
        assert status(server, f"/v2/ci/app/blobs/{layer}", "HEAD") == 404  # left to gc
    for tag in ("d", "e", "release-1"):
        assert status(server, f"/v2/ci/app/manifests/{tag}") == 200


def objects_dir(server: LiveServer) -> Path:
    assert server.data_dir is not None
    return server.data_dir / "objects"


def stored_file(server: LiveServer, data: bytes) -> Path:
    """Where the data directory keeps the bytes of a blob (or a manifest)."""
    return objects_dir(server) / layout.blob_key(blake3.blake3(data).hexdigest())


def file_count(server: LiveServer) -> int:
    return len([path for path in objects_dir(server).rglob("*") if path.is_file()])


def manifest_body(server: LiveServer, repository: str, reference: str) -> bytes:
    accept = "application/vnd.oci.image.manifest.v1+json"
    url = f"{server.url}/v2/{repository}/manifests/{reference}"
    response = httpx.get(url, headers={"Accept": accept})
    assert response.status_code == 200
    return response.content


def test_gc_applies_retention_and_reclaims_the_blobs(
    server: LiveServer, config: Path, tmp_path: Path
) -> None:
    tags = ["a", "release-1", "b", "c", "d", "e"]
    layers = {tag: f"gc {tag}\n".encode() * 777 for tag in tags}
    bodies = {}
    for tag in tags:  # one after the other: each pushed later than the one before
        oras_push(server, f"ci/gc:{tag}", tmp_path, write(tmp_path, f"{tag}.txt", layers[tag]))
        bodies[tag] = manifest_body(server, "ci/gc", tag)
    digests = {tag: "sha256:" + hashlib.sha256(body).hexdigest() for tag, body in bodies.items()}
    files = {
        tag: [stored_file(server, layers[tag]), stored_file(server, bodies[tag])] for tag in tags
    }
    assert all(path.is_file() for paths in files.values() for path in paths)
    stored = file_count(server)

    dry = store_command(config, server, "gc", "--dry-run", "--json", "--grace", "0s")
    plan = json.loads(dry)["retention"]
    victims = {v["tag"]: v["digest"] for v in plan["tags"] if v["repository"] == "ci/gc"}
    assert victims == {tag: digests[tag] for tag in "abc"}
    gone = [v["digest"] for v in plan["manifests"] if v["repository"] == "ci/gc"]
    assert sorted(gone) == sorted(digests[tag] for tag in "abc")
    text = store_command(config, server, "gc", "--dry-run")
    assert f"tag       ci/gc:a  {digests['a']}" in text
    assert f"manifest  ci/gc@{digests['c']}" in text
    assert "retention would delete" in text and "gc would remove" in text
    assert sorted(crane("ls", f"{server.host}/ci/gc").stdout.split()) == sorted(tags)
    assert all(status(server, f"/v2/ci/gc/manifests/{d}") == 200 for d in digests.values())
    assert file_count(server) == stored

    report = json.loads(store_command(config, server, "gc", "--grace", "0s", "--json"))
    assert report["retention"]["dry_run"] is False
    assert sorted(v["tag"] for v in report["retention"]["tags"] if v["repository"] == "ci/gc") == [
        "a",
        "b",
        "c",
    ]
    assert sorted(crane("ls", f"{server.host}/ci/gc").stdout.split()) == ["d", "e", "release-1"]
    for tag in "abc":
        assert status(server, f"/v2/ci/gc/manifests/{digests[tag]}") == 404
        layer = "sha256:" + hashlib.sha256(layers[tag]).hexdigest()
        assert layer in report["blobs"]  # reclaimed by this run: --grace 0s
        assert status(server, f"/v2/ci/gc/blobs/{layer}", "HEAD") == 404
        assert not any(path.exists() for path in files[tag])
    for tag in ("d", "e", "release-1"):
        assert status(server, f"/v2/ci/gc/manifests/{tag}") == 200
        assert all(path.is_file() for path in files[tag])
    left = file_count(server)
    assert left <= stored - 6
    again = json.loads(store_command(config, server, "gc", "--grace", "0s", "--json"))
    assert again["retention"]["tags"] == [] and again["retention"]["manifests"] == []


def test_the_server_applies_retention_every_gc_interval(config: Path, tmp_path: Path) -> None:
    """Pushed to a server that does not collect, then served by one that collects every
    second: its background collector deletes what retention lets go, and the bytes."""
    data_dir = tmp_path / "data"
    live = start_server(data_dir, "--config", str(config), "--workers", "1")
    tags = ["old", "release-0", "mid", "new"]
    layers = {tag: f"background {tag}\n".encode() * 555 for tag in tags}
    bodies = {}
    try:
        for tag in tags:
            oras_push(live, f"ci/bg:{tag}", tmp_path, write(tmp_path, f"{tag}.txt", layers[tag]))
            bodies[tag] = manifest_body(live, "ci/bg", tag)
    finally:
        stop_server(live)
    old = "sha256:" + hashlib.sha256(bodies["old"]).hexdigest()
    collecting = ("--gc-interval", "1s", "--gc-grace", "0s")
    live = start_server(data_dir, "--config", str(config), "--workers", "1", *collecting)
    try:
        files = [stored_file(live, layers["old"]), stored_file(live, bodies["old"])]
        assert all(path.is_file() for path in files)
        deadline = time.monotonic() + 60
        while any(path.exists() for path in files):
            assert time.monotonic() < deadline, "the background collector never reclaimed them"
            time.sleep(0.5)
        assert sorted(crane("ls", f"{live.host}/ci/bg").stdout.split()) == [
            "mid",
            "new",
            "release-0",
        ]
        assert status(live, f"/v2/ci/bg/manifests/{old}") == 404
        for tag in ("mid", "new", "release-0"):
            assert stored_file(live, layers[tag]).is_file()
            assert status(live, f"/v2/ci/bg/manifests/{tag}") == 200
    finally:
        stop_server(live)


def test_usage_adds_up_and_the_api_agrees(server: LiveServer, config: Path, tmp_path: Path) -> None:
    layer = os.urandom(50_000)
    write(tmp_path, "layer.bin", layer)
    oras_push(server, "usage/a:v1", tmp_path, "layer.bin", write(tmp_path, "a.txt", b"a" * 700))
    oras_push(server, "usage/b:v1", tmp_path, "layer.bin", write(tmp_path, "b.txt", b"b" * 300))
    report = json.loads(store_command(config, server, "usage", "--json"))
    assert httpx.get(f"{server.url}/v2/_usage").json() == report
    by_name = {usage["name"]: usage for usage in report["repositories"]}
    for name in ("usage/a", "usage/b"):
        usage = by_name[name]
        assert usage["logical_bytes"] == usage["unique_bytes"] + usage["shared_bytes"]
        assert usage["shared_bytes"] >= len(layer)  # and the empty config oras shares
        assert (usage["manifests"], usage["tags"]) == (1, 1)
    assert by_name["usage/a"]["unique_bytes"] > by_name["usage/b"]["unique_bytes"]
    totals = report["totals"]
    assert totals["logical_bytes"] == sum(u["logical_bytes"] for u in report["repositories"])
    assert totals["dedupe_savings_bytes"] == totals["logical_bytes"] - totals["stored_bytes"]
    one = httpx.get(f"{server.url}/v2/_usage", params={"repository": "usage/a"}).json()
    assert one["repositories"] == [by_name["usage/a"]]
    text = store_command(config, server, "usage", "--repository", "usage/b")
    assert "usage/b" in text and "dedupe ratio" in text
