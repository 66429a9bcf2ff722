"""An upstream registry, as the cache asks it for manifests and blobs (httpx).

Authentication follows the registry's challenge: Basic with the configured
credentials, or a Docker token from the realm a Bearer challenge names, asked
for with the credentials when there are some and anonymously when not (as Docker
Hub wants even for public images). Tokens are kept per scope until they expire.
"""

from __future__ import annotations

import base64
import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from prometheus_client import Counter

from registry.errors import UpstreamUnavailable
from registry.proxy.upstreams import Upstream

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ACCEPT = ", ".join(MANIFEST_TYPES)
TOKEN_LIFETIME = 60.0  # seconds a token without expires_in is kept (the spec's minimum)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')

REQUESTS = Counter(
    "artifact_store_proxy_upstream_requests",
    "Requests the pull-through cache sent to upstream registries",
    ["upstream", "kind", "status"],
)


class UpstreamMissing(Exception):
    """The upstream answered 404: it has no such manifest or blob."""


@dataclass(frozen=True)
class RemoteManifest:
    digest: str
    media_type: str
    body: bytes | None = None  # None for a HEAD


class UpstreamClient:
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self._http = httpx.AsyncClient(timeout=upstream.timeout, follow_redirects=True)
        self._tokens: dict[str, tuple[str, float]] = {}  # scope -> (token, expiry)
        self._basic = False  # the upstream asked for Basic: sent from then on

    async def close(self) -> None:
        await self._http.aclose()

    async def manifest(self, name: str, reference: str, *, body: bool) -> RemoteManifest:
        """The manifest's digest and media type, and its bytes unless only a HEAD is wanted."""
        method = "GET" if body else "HEAD"
        url = f"/v2/{name}/manifests/{reference}"
        async with self._sent(method, name, url, "manifest", {"Accept": ACCEPT}) as response:
            content = await response.aread() if body else None
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return RemoteManifest(
            response.headers.get("docker-content-digest", ""), media_type, content
        )

    async def blob_size(self, name: str, digest: str) -> int | None:
        async with self._sent("HEAD", name, f"/v2/{name}/blobs/{digest}", "blob") as response:
            length = response.headers.get("content-length", "")
        return int(length) if length.isdigit() else None

    @contextlib.asynccontextmanager
    async def blob(self, name: str, digest: str) -> AsyncIterator[httpx.Response]:
        """The blob's response, its body not yet read (stream it with `aiter_bytes`)."""
        async with self._sent("GET", name, f"/v2/{name}/blobs/{digest}", "blob") as response:
            yield response

    @contextlib.asynccontextmanager
    async def _sent(
        self, method: str, name: str, path: str, kind: str, headers: dict[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """A streamed response of status 200; 404 raises UpstreamMissing, anything else or
        no answer UpstreamUnavailable."""
        url = self.upstream.url + path
        try:
            response = await self._authorized(method, url, name, headers or {})
            try:
                REQUESTS.labels(self.upstream.prefix, kind, str(response.status_code)).inc()
                _check(response, self.upstream.prefix)
                yield response
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            REQUESTS.labels(self.upstream.prefix, kind, "error").inc()
            raise UpstreamUnavailable(_unreachable(self.upstream, exc)) from exc

    async def _authorized(
        self, method: str, url: str, name: str, headers: dict[str, str]
    ) -> httpx.Response:
        """The response, after answering one authentication challenge if there is one."""
        scope = f"repository:{name}:pull"
        known = self._known_authorization(scope)
        if known is not None:
            headers = {**headers, "Authorization": known}
        response = await self._send(method, url, headers)
        challenge = response.headers.get("www-authenticate", "")
        if response.status_code != 401 or not challenge:
            return response
        await response.aclose()
        authorization = await self._answer(challenge, scope)
        return await self._send(method, url, {**headers, "Authorization": authorization})

    async def _send(self, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
        request = self._http.build_request(method, url, headers=headers)
        return await self._http.send(request, stream=True)

    def _known_authorization(self, scope: str) -> str | None:
        """What to send before any challenge: Basic once the upstream asked for it, or a
        token of the scope while it lasts."""
        if self._basic:
            return _basic(*self._credentials())
        token = self._token(scope)
        return None if token is None else f"Bearer {token}"

    async def _answer(self, challenge: str, scope: str) -> str:
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            self._basic = True
            return _basic(*self._credentials())
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        token = await self._fetch_token(params, scope)
        return f"Bearer {token}"

    async def _fetch_token(self, challenge: dict[str, str], scope: str) -> str:
        query = {"scope": challenge.get("scope", scope)}
        if "service" in challenge:
            query["service"] = challenge["service"]
        auth = httpx.BasicAuth(*self._credentials()) if self.upstream.username else None
        response = await self._http.get(challenge.get("realm", ""), params=query, auth=auth)
        REQUESTS.labels(self.upstream.prefix, "token", str(response.status_code)).inc()
        if response.status_code != 200:
            raise UpstreamUnavailable(
                {"upstream": self.upstream.prefix, "token_status": response.status_code}
            )
        answer = response.json()
        token = str(answer.get("token") or answer.get("access_token") or "")
        lifetime = float(answer.get("expires_in") or TOKEN_LIFETIME)
        self._tokens[scope] = (token, time.monotonic() + lifetime * 0.9)
        return token

    def _token(self, scope: str) -> str | None:
        found = self._tokens.get(scope)
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def _credentials(self) -> tuple[str, str]:
        return self.upstream.username or "", self.upstream.password or ""


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _check(response: httpx.Response, prefix: str) -> None:
    if response.status_code == 404:
        raise UpstreamMissing()
    if response.status_code != 200:
        raise UpstreamUnavailable({"upstream": prefix, "status": response.status_code})


def _unreachable(upstream: Upstream, exc: httpx.HTTPError) -> dict[str, str]:
    return {"upstream": upstream.prefix, "error": type(exc).__name__}
