"""The pull-through cache over HTTP, against a real upstream artifact-store: what the cache
fetches, what it keeps, and what it answers when the upstream cannot."""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.registry.helpers import OCI_MANIFEST

from .conftest import CacheStarter
from .servers import PREFIX, PushedImage, Upstream, push_image, random_bytes

ACCEPT = {"Accept": OCI_MANIFEST}


def pull(cache: httpx.Client, image: PushedImage, prefix: str = PREFIX, ref: str = "") -> None:
    """A whole pull through the cache: the manifest, then every blob, checked byte for byte."""
    name = f"{prefix}/{image.repository}"
    answer = cache.get(f"/v2/{name}/manifests/{ref or image.tag}", headers=ACCEPT)
    assert answer.status_code == 200, answer.text
    assert answer.content == image.manifest
    assert answer.headers["docker-content-digest"] == image.digest
    for digest, blob in image.blobs.items():
        got = cache.get(f"/v2/{name}/blobs/{digest}")
        assert got.status_code == 200, got.text
        assert got.content == blob


def test_second_pull_does_not_reach_the_upstream(
    upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    with upstream.client() as client:
        image = push_image(client, "library/alpine", "3.20", random_bytes(300_000))
    cache = start_cache_of(upstream, ttl="1h")
    with httpx.Client(base_url=cache.url, timeout=60) as client:
        pull(client, image)
        first = len(upstream.recorder.requests)
        pull(client, image)
        pull(client, image, ref=image.digest)
    assert first >= 1 + len(image.blobs)
    assert len(upstream.recorder.requests) == first


def test_cached_content_is_ordinary_content(
    upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    with upstream.client() as client:
        image = push_image(client, "team/app", "v1", random_bytes(1000))
    cache = start_cache_of(upstream)
    with httpx.Client(base_url=cache.url, timeout=60) as client:
        pull(client, image)
        catalog = client.get("/v2/_catalog").json()["repositories"]
        tags = client.get(f"/v2/{PREFIX}/team/app/tags/list").json()["tags"]
        head = client.head(f"/v2/{PREFIX}/team/app/manifests/v1", headers=ACCEPT)
    assert f"{PREFIX}/team/app" in catalog
    assert tags == ["v1"]
    assert head.headers["docker-content-digest"] == image.digest


def test_a_moved_tag_is_seen_after_its_ttl(
    upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    with upstream.client() as client:
        old = push_image(client, "moving", "latest", b"old layer")
        trusting = start_cache_of(upstream, ttl="1h")
        checking = start_cache_of(upstream, prefix="now", ttl="0s")
        with httpx.Client(base_url=trusting.url) as a, httpx.Client(base_url=checking.url) as b:
            pull(a, old)
            pull(b, old, prefix="now")
            new = push_image(client, "moving", "latest", b"new layer")
            pull(a, old)  # within its ttl: the cached digest, upstream not asked
            heads = upstream.heads("/manifests/latest")
            pull(b, new, prefix="now")  # past its ttl: upstream asked, the new digest fetched
    assert heads == 0  # a first pull GETs at once; a tag within its ttl is not checked
    assert upstream.heads("/manifests/latest") == 1  # past its ttl: checked, then fetched


def test_an_unchanged_tag_past_its_ttl_is_checked_with_a_head_only(
    upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    with upstream.client() as client:
        image = push_image(client, "steady", "v1", b"layer")
    cache = start_cache_of(upstream, ttl="0s")
    with httpx.Client(base_url=cache.url) as client:
        pull(client, image)
        manifest_gets = upstream.gets("/manifests/")
        pull(client, image)
    assert upstream.gets("/manifests/") == manifest_gets
    assert upstream.heads("/manifests/v1") == 1


def test_concurrent_first_pulls_fetch_a_blob_once(
    upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    layer = random_bytes(50 * 1024 * 1024)
    with upstream.client() as client:
        image = push_image(client, "big", "v1", layer)
    digest = hashlib.sha256(layer).hexdigest()
    cache = start_cache_of(upstream, "--workers", "2")

    def fetch(_: int) -> str:
        with httpx.Client(base_url=cache.url, timeout=120) as client:
            answer = client.get(f"/v2/{PREFIX}/big/blobs/sha256:{digest}")
            assert answer.status_code == 200, answer.text
            return hashlib.sha256(answer.content).hexdigest()

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(fetch, range(8)))
    assert got == [digest] * 8
    assert upstream.gets(f"/blobs/sha256:{digest}") == 1
    assert image.blobs


def test_upstream_down_serves_what_was_cached(
    upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    with upstream.client() as client:
        image = push_image(client, "kept", "v1", random_bytes(5000))
        never = push_image(client, "kept", "v2", b"never pulled")
    cache = start_cache_of(upstream, ttl="0s", timeout="2s")
    with httpx.Client(base_url=cache.url, timeout=60) as client:
        pull(client, image)
        upstream.stop()
        pull(client, image)  # the tag is past its ttl: served stale
        pull(client, image, ref=image.digest)
        by_tag = client.get(f"/v2/{PREFIX}/kept/manifests/v2", headers=ACCEPT)
        by_digest = client.get(f"/v2/{PREFIX}/kept/manifests/{never.digest}")
        blob = client.get(f"/v2/{PREFIX}/kept/blobs/{next(iter(never.blobs))}")
    for answer in (by_tag, by_digest, blob):
        assert answer.status_code == 503
        assert answer.json()["errors"][0]["code"] == "UNAVAILABLE"


@pytest.mark.parametrize(
    "path, code",
    [
        pytest.param("nothing/manifests/latest", "MANIFEST_UNKNOWN", id="unknown-name"),
        pytest.param("kept/manifests/nope", "MANIFEST_UNKNOWN", id="unknown-tag"),
        pytest.param(f"kept/manifests/sha256:{'0' * 64}", "MANIFEST_UNKNOWN", id="manifest"),
        pytest.param(f"kept/blobs/sha256:{'0' * 64}", "BLOB_UNKNOWN", id="blob"),
    ],
)
def test_unknown_names_and_digests_answer_404(
    upstream: Upstream, start_cache_of: CacheStarter, path: str, code: str
) -> None:
    with upstream.client() as client:
        push_image(client, "kept", "v1", b"layer")
    cache = start_cache_of(upstream)
    answer = httpx.get(f"{cache.url}/v2/{PREFIX}/{path}", headers=ACCEPT)
    assert answer.status_code == 404
    assert answer.json()["errors"][0]["code"] == code


def test_pushes_into_a_cache_are_refused(upstream: Upstream, start_cache_of: CacheStarter) -> None:
    cache = start_cache_of(upstream)
    with httpx.Client(base_url=cache.url) as client:
        image = push_image(client, "mine", "v1", b"hosted here")  # outside the prefix: fine
        blob = client.post(f"/v2/{PREFIX}/mine/blobs/uploads/")
        manifest = client.put(
            f"/v2/{PREFIX}/mine/manifests/v1",
            content=image.manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
    for answer in (blob, manifest):
        assert answer.status_code == 403
        assert answer.json()["errors"][0]["code"] == "DENIED"
    assert upstream.recorder.requests == []


def test_ns_routes_a_mirror_request_to_its_upstream(
    upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    with upstream.client() as client:
        image = push_image(client, "library/busybox", "1", b"busy layer")
    cache = start_cache_of(upstream, namespaces=["docker.io"])
    with httpx.Client(base_url=cache.url) as client:
        mirrored = client.get("/v2/library/busybox/manifests/1?ns=docker.io", headers=ACCEPT)
        layer = next(iter(image.blobs))
        blob = client.get(f"/v2/library/busybox/blobs/{layer}?ns=docker.io")
        local = client.get("/v2/library/busybox/manifests/1", headers=ACCEPT)
        cached = client.get(f"/v2/{PREFIX}/library/busybox/manifests/1", headers=ACCEPT)
    assert mirrored.content == image.manifest
    assert blob.content == image.blobs[layer]
    assert local.status_code == 404  # without ns: a repository of this registry
    assert cached.content == image.manifest  # the cache lives under the prefix


def test_a_default_upstream_answers_what_this_registry_lacks(
    upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    """A Docker registry-mirrors client: no prefix, no ns."""
    with upstream.client() as client:
        image = push_image(client, "library/redis", "7", b"redis layer")
    cache = start_cache_of(upstream, default=True)
    with httpx.Client(base_url=cache.url) as client:
        hosted = push_image(client, "library/redis", "mine", b"hosted layer")
        mirrored = client.get("/v2/library/redis/manifests/7", headers=ACCEPT)
        layer = client.get(f"/v2/library/redis/blobs/{next(iter(image.blobs))}")
        own = client.get("/v2/library/redis/manifests/mine", headers=ACCEPT)
        cached = client.get(f"/v2/{PREFIX}/library/redis/manifests/7", headers=ACCEPT)
    assert mirrored.content == image.manifest
    assert layer.content == next(iter(image.blobs.values()))
    assert own.content == hosted.manifest  # hosted here: the upstream is not asked
    assert cached.content == image.manifest  # the cache lives under the prefix
    assert upstream.recorder.matching("GET", "/manifests/mine") == []


def test_metrics_count_where_answers_came_from(
    upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    with upstream.client() as client:
        image = push_image(client, "counted", "v1", b"layer")
    cache = start_cache_of(upstream, ttl="1h")
    with httpx.Client(base_url=cache.url) as client:
        pull(client, image)
        pull(client, image)
        samples = proxy_samples(
            client, until=("artifact_store_proxy_lookups_total", "blob", "cache")
        )
    assert samples[("artifact_store_proxy_lookups_total", "manifest", "upstream")] == 1
    assert samples[("artifact_store_proxy_lookups_total", "manifest", "cache")] == 1
    assert samples[("artifact_store_proxy_lookups_total", "blob", "upstream")] == 2
    assert samples[("artifact_store_proxy_lookups_total", "blob", "cache")] == 2
    assert samples[("artifact_store_proxy_upstream_requests_total", "blob", "200")] == 2
    fetched = sum(len(blob) for blob in image.blobs.values())
    assert samples[("artifact_store_proxy_fetched_bytes_total", None, None)] == fetched


Sample = tuple[str, str | None, str | None]


def proxy_samples(client: httpx.Client, until: Sample, count: int = 2) -> dict[Sample, float]:
    """The cache's proxy metrics, summed over the server's processes, once `until` has
    reached `count` (each worker's counts reach /metrics on their own schedule)."""
    deadline = time.monotonic() + 30
    while True:
        samples: defaultdict[Sample, float] = defaultdict(float)
        for family in text_string_to_metric_families(client.get("/metrics").text):
            for sample in family.samples:
                labels = sample.labels
                if labels.get("upstream") == PREFIX:
                    answer = labels.get("source") or labels.get("status")
                    samples[(sample.name, labels.get("kind"), answer)] += sample.value
        if samples[until] >= count or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


def test_a_layer_shared_by_two_repositories_is_fetched_once(
    upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    base = random_bytes(200_000)
    with upstream.client() as client:
        first = push_image(client, "library/python", "3", base, b"python")
        second = push_image(client, "library/node", "22", base, b"node")
    cache = start_cache_of(upstream)
    with httpx.Client(base_url=cache.url, timeout=60) as client:
        pull(client, first)
        pull(client, second)
    layer = hashlib.sha256(base).hexdigest()
    assert upstream.gets(f"/blobs/sha256:{layer}") == 1
    assert upstream.heads(f"/library/node/blobs/sha256:{layer}") == 1  # asked, not fetched


def test_a_blob_upstream_lacks_is_not_linked_from_another_repository(
    upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    secret = random_bytes(1000)
    with upstream.client() as client:
        image = push_image(client, "private/one", "v1", secret)
        push_image(client, "public/two", "v1", b"other")
    cache = start_cache_of(upstream)
    digest = hashlib.sha256(secret).hexdigest()
    with httpx.Client(base_url=cache.url, timeout=60) as client:
        pull(client, image)
        answer = client.get(f"/v2/{PREFIX}/public/two/blobs/sha256:{digest}")
    assert answer.status_code == 404
    assert answer.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


def test_cached_content_may_be_deleted_and_is_fetched_again(
    upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    with upstream.client() as client:
        image = push_image(client, "deleted", "v1", b"layer")
    cache = start_cache_of(upstream, ttl="1h")
    with httpx.Client(base_url=cache.url, timeout=60) as client:
        pull(client, image)
        deleted = client.delete(f"/v2/{PREFIX}/deleted/manifests/{image.digest}")
        gone = client.get(f"/v2/{PREFIX}/deleted/tags/list").json()["tags"]
        pull(client, image)
    assert deleted.status_code == 202
    assert gone == []
    assert upstream.gets(f"/manifests/{image.digest}") == 1  # fetched again, by digest
