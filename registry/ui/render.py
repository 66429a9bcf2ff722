"""Templates, their filters, and the pages of errors: HTML, never a bare 500."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from manifests.parse import Descriptor
from registry.ui import links
from registry.units import format_size
from storage.browsing import platform_name

TEMPLATES = Path(__file__).parent / "templates"
SHORT_DIGEST = 12  # hex characters shown of a digest in listings

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    auto_reload=False,
)


def short_digest(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}:{hex_part[:SHORT_DIGEST]}"


def when(value: object) -> str:
    """A time to the second in UTC; "never" for none; text as it is."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "never" if value is None else str(value)


environment.filters.update(size=format_size, short=short_digest, when=when)
environment.globals.update(repository_link=links.repository, manifest_link=links.manifest)


def page(
    request: Request,
    template: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    url_for = request.app.url_path_for
    context.setdefault("artifact_type", artifact_type)
    body = environment.get_template(template).render(request=request, url_for=url_for, **context)
    response = HTMLResponse(body, status_code=status, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# Inline scripts and styles stay blocked: escaped output is the first line, this the second.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def platform_names(descriptor: Descriptor) -> str:
    return platform_name(descriptor) or "—"


# What people call the artifact types a referrer tree usually holds.
REFERRER_KINDS = {
    "application/vnd.dev.cosign.artifact.sig.v1+json": "cosign signature",
    "application/vnd.dev.sigstore.bundle.v0.3+json": "sigstore bundle",
    "application/vnd.dev.sigstore.bundle+json;version=0.3": "sigstore bundle",
    "application/vnd.cncf.notary.signature": "notation signature",
    "application/spdx+json": "SPDX SBOM",
    "application/vnd.cyclonedx+json": "CycloneDX SBOM",
    "application/vnd.in-toto+json": "in-toto attestation",
    "application/vnd.dsse.envelope.v1+json": "in-toto attestation (DSSE)",
}


# Configs of runnable images: an artifact type only by the referrers API's fallback.
IMAGE_CONFIGS = frozenset(
    {
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    }
)


def artifact_type(value: str | None) -> str:
    """The artifact type worth showing beside a media type: "" for a plain image."""
    return "" if value is None or value in IMAGE_CONFIGS else value


def referrer_kind(artifact_type: str) -> str:
    """A name for the group; the artifact type itself when it has none."""
    return REFERRER_KINDS.get(artifact_type, artifact_type)
