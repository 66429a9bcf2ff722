"""Upstreams that want credentials: Basic, and Docker tokens from the realm of a Bearer
challenge."""

from __future__ import annotations

import httpx

from .conftest import PASSWORD, USER, CacheStarter
from .servers import Upstream, push_image, random_bytes
from .test_pull_through import pull

CREDENTIALS = {"username_env": "UPSTREAM_USER", "password_env": "UPSTREAM_PASSWORD"}
ENV = {"UPSTREAM_USER": USER, "UPSTREAM_PASSWORD": PASSWORD}


def test_basic_auth_upstream(basic_upstream: Upstream, start_cache_of: CacheStarter) -> None:
    with basic_upstream.client() as client:
        image = push_image(client, "private/app", "v1", random_bytes(2000))
    cache = start_cache_of(basic_upstream, env=ENV, **CREDENTIALS)
    with httpx.Client(base_url=cache.url, timeout=60) as client:
        pull(client, image)
    refused = [r for r in basic_upstream.recorder.requests if r.status == 401]
    assert len(refused) == 1  # the first request's challenge; Basic is sent from then on
    assert basic_upstream.gets("/blobs/") == len(image.blobs)


def test_wrong_credentials_answer_503_not_a_hang(
    basic_upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    with basic_upstream.client() as client:
        push_image(client, "private/app", "v1", b"layer")
    cache = start_cache_of(basic_upstream, username="puller", password="wrong")
    answer = httpx.get(f"{cache.url}/v2/up/private/app/manifests/v1", timeout=60)
    assert answer.status_code == 503
    assert answer.json()["errors"][0]["code"] == "UNAVAILABLE"


def test_token_auth_upstream_with_credentials(
    token_upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    with token_upstream.client() as client:
        image = push_image(client, "team/tool", "v2", random_bytes(4000))
    cache = start_cache_of(token_upstream, env=ENV, **CREDENTIALS)
    with httpx.Client(base_url=cache.url, timeout=60) as client:
        pull(client, image)
    assert_token_used(token_upstream)


def test_anonymous_token_as_docker_hub_asks(
    hub_upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    """No credentials configured: the challenge, a token asked for without credentials,
    then that token on every request."""
    with hub_upstream.client() as client:
        image = push_image(client, "library/alpine", "3.21", random_bytes(3000))
    cache = start_cache_of(hub_upstream)
    with httpx.Client(base_url=cache.url, timeout=60) as client:
        pull(client, image)
    challenge, token, *rest = hub_upstream.recorder.requests
    assert challenge.status == 401
    assert challenge.response_headers["www-authenticate"].startswith("Bearer realm=")
    assert token.path.startswith("/token?") and token.status == 200
    assert "authorization" not in token.request_headers
    assert len(rest) >= 3  # the manifest and two blobs
    for request in rest:
        assert request.status == 200
        assert request.request_headers["authorization"] == "Bearer anonymous-pull-token"


def assert_token_used(upstream: Upstream) -> None:
    """One challenge, one token (asked for with Basic credentials) kept for the scope, then
    the token on every request."""
    requests = upstream.recorder.requests
    challenge, token, *rest = requests
    assert challenge.status == 401
    assert challenge.response_headers["www-authenticate"].startswith("Bearer realm=")
    assert token.path.startswith("/token?") and token.status == 200
    assert token.request_headers["authorization"].startswith("Basic ")
    assert len(rest) >= 3  # the manifest and two blobs
    for request in rest:
        assert request.status == 200
        assert request.request_headers["authorization"].startswith("Bearer ")


def test_distribution_upstream_with_basic_auth(
    distribution_upstream: Upstream, start_cache_of: CacheStarter
) -> None:
    """distribution 2.8, as many teams run it in front of their own images."""
    with distribution_upstream.client() as client:
        image = push_image(client, "library/alpine", "3.20", random_bytes(100_000))
    cache = start_cache_of(distribution_upstream, env=ENV, **CREDENTIALS)
    with httpx.Client(base_url=cache.url, timeout=60) as client:
        pull(client, image)
        first = len(distribution_upstream.recorder.requests)
        pull(client, image)
    assert len(distribution_upstream.recorder.requests) == first
    assert distribution_upstream.gets("/blobs/") == len(image.blobs)
