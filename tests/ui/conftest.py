"""A real browser against a live registry: Debian's chromium (scripts/setup-browser.sh)
driven by Playwright, over content pushed with oras.

Every page a test opens is watched: console errors, page errors, failed requests and
responses of 400 or more are collected, and a test asserts there were none it did
not expect. ARTIFACT_STORE_UI_SCREENSHOTS=1 saves screenshots into docs/ui/.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Request as PlaywrightRequest

from tests.clients.commands import run, tool
from tests.clients.images import OCI_INDEX, OciLayoutWriter

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "ui"
HOSTILE = '<script>document.title="injected"</script><img src=x onerror=alert(1)>'
SBOM_TYPE = "application/spdx+json"
SIGNATURE_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"


@dataclass
class Watched:
    """A page and everything that went wrong on it."""

    page: Page
    problems: list[str] = field(default_factory=list)

    def expect_clean(self) -> None:
        assert self.problems == [], self.problems

    def screenshot(self, name: str) -> None:
        if os.environ.get("ARTIFACT_STORE_UI_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def watch(context: BrowserContext) -> Watched:
    page = context.new_page()
    watched = Watched(page)
    problems = watched.problems

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    def response(answer: Response) -> None:
        if answer.status >= 400:
            problems.append(f"{answer.status} {answer.url}")

    def failed(request: PlaywrightRequest) -> None:
        problems.append(f"failed: {request.url} {request.failure}")

    def page_error(error: PlaywrightError) -> None:
        problems.append(f"page error: {error}")

    page.on("console", console)
    page.on("response", response)
    page.on("requestfailed", failed)
    page.on("pageerror", page_error)
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    return watched


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (run `make browser`)")
        pytest.skip("chromium is not installed (run `make browser`)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium)
        yield launched
        launched.close()


@dataclass(frozen=True)
class Pushed:
    """What push_content put into one repository."""

    index: str  # digest of the two-platform index, tagged "multi"
    children: dict[str, str]  # architecture → image manifest digest
    image: str  # digest of the image tagged "annotated" (a hostile annotation)
    referrers: dict[str, str]  # artifact type → digest of what oras attached to the index


def oci_layout(path: Path) -> tuple[Path, str, dict[str, str], str]:
    """A layout with an index of linux/amd64 and linux/arm64 ("multi") and an image whose
    annotation holds markup ("annotated")."""
    writer = OciLayoutWriter(path)
    children: dict[str, str] = {}
    descriptors = []
    for arch in ("amd64", "arm64"):
        layer = writer.add_layer({f"{arch}/bin": os.urandom(4000)}, "gzip")
        descriptor, _, _, _ = writer.add_image([layer], arch)
        children[arch] = descriptor["digest"]
        descriptors.append({**descriptor, "platform": {"architecture": arch, "os": "linux"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors})
    index_digest = writer.add_blob(index.encode())
    writer.tag({"mediaType": OCI_INDEX, "digest": index_digest, "size": len(index)}, "multi")
    layer = writer.add_layer({"app/readme": b"hello"}, "gzip")
    image, _, _, _ = writer.add_image([layer], annotations={"description": HOSTILE})
    writer.tag(image, "annotated")
    return path, index_digest, children, image["digest"]


def push_content(
    host: str, repository: str, work: Path, credentials: tuple[str, str] | None = None
) -> Pushed:
    """Pushes the layout's two tags with `oras cp` and attaches an SBOM and a signature to
    the index with `oras attach`."""
    layout, index, children, image = oci_layout(work / "layout")
    login = (
        ["--to-username", credentials[0], "--to-password", credentials[1]] if credentials else []
    )
    for tag in ("multi", "annotated"):
        ref = f"{host}/{repository}:{tag}"
        run(
            [
                tool("oras"),
                "cp",
                "--from-oci-layout",
                "--to-plain-http",
                *login,
                f"{layout}:{tag}",
                ref,
            ]
        )
    attach_login = (
        ["--username", credentials[0], "--password", credentials[1]] if credentials else []
    )
    referrers = {}
    for artifact_type, name, content in (
        (SBOM_TYPE, "sbom.spdx.json", {"spdxVersion": "SPDX-2.3", "name": "app"}),
        (SIGNATURE_TYPE, "signature.json", {"critical": {"image": index}}),
    ):
        (work / name).write_text(json.dumps(content))
        result = run(
            [
                tool("oras"), "attach", "--plain-http", *attach_login, "--format", "json",
                "--artifact-type", artifact_type, f"{host}/{repository}@{index}", name,
            ],
            cwd=work,
        )  # fmt: skip
        referrers[artifact_type] = json.loads(result.stdout)["digest"]
    return Pushed(index, children, image, referrers)
