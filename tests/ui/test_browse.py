"""Browsing a live registry in chromium: repositories → repository → tag → manifest →
referrer, with no console errors and no failed requests; and what auth lets each see."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.auth.helpers import (
    PASSWORDS,
    POLICY_TOML,
    SecureServer,
    start,
    write_htpasswd,
    write_settings,
)
from tests.ui.conftest import HOSTILE, SBOM_TYPE, SIGNATURE_TYPE, Pushed, push_content, watch

pytestmark = pytest.mark.clients  # oras pushes what the browser looks at

REPOSITORY = "demo/app"
COPY = "demo/copy"


@pytest.fixture(scope="module")
def open_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SecureServer, Pushed]]:
    work = tmp_path_factory.mktemp("ui-open")
    server = start(work / "data")
    try:
        pushed = push_content(server.host, REPOSITORY, work)
        (work / "copy").mkdir()
        push_content(server.host, COPY, work / "copy")  # new random layers, the same SBOM
        yield server, pushed
    finally:
        server.stop()


def test_browse_from_repositories_to_a_referrer(
    browser: Browser, open_registry: tuple[SecureServer, Pushed]
) -> None:
    server, pushed = open_registry
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
    watched = watch(context)
    page = watched.page

    page.goto("/ui/")
    row = page.locator("#repositories tbody tr", has_text=REPOSITORY)
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("2")  # multi, annotated
    watched.screenshot("repositories")

    row.get_by_role("link", name=REPOSITORY).click()
    expect(page.locator("h1")).to_have_text(REPOSITORY)
    multi = page.locator("#tags tbody tr", has_text="multi")
    expect(multi).to_contain_text("linux/amd64, linux/arm64")
    expect(multi).to_contain_text("application/vnd.oci.image.index.v1+json")
    expect(multi).to_contain_text(pushed.index.split(":")[1][:12])
    expect(multi.locator("code.copy").first).to_contain_text(
        f"docker pull {server.host}/{REPOSITORY}:multi"
    )
    watched.screenshot("repository")

    multi.get_by_role("link", name="multi", exact=True).click()
    expect(page.locator("#manifest")).to_contain_text(pushed.index)
    expect(page.locator("#manifest")).to_contain_text("blake3:")
    children = page.locator("#children tbody tr")
    expect(children).to_have_count(2)
    expect(children.nth(1)).to_contain_text("linux/arm64")
    referrers = page.locator("#referrers")
    expect(referrers).to_contain_text("SPDX SBOM")
    expect(referrers).to_contain_text("cosign signature")
    expect(referrers.locator("a")).to_have_count(2)
    watched.screenshot("manifest-index")

    children.nth(1).get_by_role("link").click()
    expect(page.locator("#manifest")).to_contain_text(pushed.children["arm64"])
    blobs = page.locator("#blobs tbody tr")
    expect(blobs).to_have_count(2)  # config and one layer
    expect(blobs.nth(1)).to_contain_text(re.compile(r"sha256:[0-9a-f]{64}"))
    expect(blobs.nth(1)).to_contain_text(re.compile(r"blake3:[0-9a-f]{64}"))
    watched.screenshot("manifest-image")

    page.go_back()
    page.locator("#referrers a", has_text=pushed.referrers[SBOM_TYPE]).click()
    expect(page.locator("#manifest")).to_contain_text(SBOM_TYPE)
    expect(page.locator("#manifest")).to_contain_text(f"Subject{pushed.index}")
    watched.screenshot("manifest-referrer")
    assert pushed.referrers[SIGNATURE_TYPE] != pushed.referrers[SBOM_TYPE]
    watched.expect_clean()
    context.close()


def test_an_annotation_with_markup_is_shown_as_text(
    browser: Browser, open_registry: tuple[SecureServer, Pushed]
) -> None:
    server, _ = open_registry
    context = browser.new_context(base_url=server.url)
    watched = watch(context)
    page = watched.page
    page.goto(f"/ui/repositories/{REPOSITORY}/-/manifests/annotated")
    expect(page.locator("#annotations td")).to_have_text(HOSTILE)
    assert page.title() != "injected"
    expect(page.locator("#annotations img")).to_have_count(0)
    watched.expect_clean()  # no dialog opened, no script ran, no image request failed
    context.close()


def test_filter_and_store_pages(
    browser: Browser, open_registry: tuple[SecureServer, Pushed]
) -> None:
    server, _ = open_registry
    context = browser.new_context(base_url=server.url)
    watched = watch(context)
    page = watched.page
    page.goto("/ui/")
    page.get_by_label("Filter by name").fill("nothing-like-this")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".empty")).to_contain_text("No repositories match")
    page.get_by_label("Filter by name").fill("demo")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#repositories tbody tr td:first-child")).to_have_text([REPOSITORY, COPY])
    page.get_by_label("Filter by name").fill("copy")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#repositories tbody tr td:first-child")).to_have_text([COPY])
    page.get_by_role("link", name="Store", exact=True).click()
    expect(page.locator("#totals")).to_contain_text("Dedupe")
    expect(page.locator("#totals")).not_to_contain_text("0 B saved")  # the SBOM, stored once
    expect(page.locator("#events")).to_contain_text("manifest.push")
    watched.screenshot("store")
    watched.expect_clean()
    context.close()


def settings_with_auth(work: Path, mode: str) -> Path:
    htpasswd = write_htpasswd(work / "htpasswd", PASSWORDS)
    return write_settings(work, POLICY_TOML, auth=mode, auth_htpasswd=str(htpasswd))


@pytest.fixture(scope="module", params=["basic", "token"])
def guarded_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, SecureServer]]:
    mode: str = request.param
    work = tmp_path_factory.mktemp(f"ui-{mode}")
    server = start(work / "data", settings_with_auth(work, mode))
    alice = ("alice", PASSWORDS["alice"])
    try:
        for repository in ("public/tools", "team/service"):
            (work / repository).mkdir(parents=True)
            push_content(server.host, repository, work / repository, alice)
        yield mode, server
    finally:
        server.stop()


def test_anonymous_browser_sees_only_public_repositories(
    browser: Browser, guarded_registry: tuple[str, SecureServer]
) -> None:
    _, server = guarded_registry
    context = browser.new_context(base_url=server.url)
    watched = watch(context)
    page = watched.page
    page.goto("/ui/")
    names = page.locator("#repositories tbody tr td:first-child")
    expect(names).to_have_text(["public/tools"])
    page.get_by_role("link", name="public/tools").click()
    expect(page.locator("#tags tbody tr")).to_have_count(2)
    watched.expect_clean()
    refused = context.request.get("/ui/repositories/team/service")  # as the browser asks it
    assert refused.status == 401
    assert "team/service" not in refused.text()
    context.close()


def test_signed_in_browser_sees_what_the_policy_lets_it_pull(
    browser: Browser, guarded_registry: tuple[str, SecureServer]
) -> None:
    mode, server = guarded_registry
    alice = {"username": "alice", "password": PASSWORDS["alice"]}
    basic = {"http_credentials": alice} if mode == "basic" else {}
    context = browser.new_context(base_url=server.url, **basic)  # type: ignore[arg-type]
    watched = watch(context)
    page = watched.page
    if mode == "basic":
        page.goto("/ui/login")  # answers the challenge with the context's credentials
    else:
        page.goto("/ui/")
        page.get_by_role("link", name="Sign in").click()
        page.get_by_label("User name").fill("alice")
        page.get_by_label("Password").fill(PASSWORDS["alice"])
        page.get_by_role("button", name="Sign in").click()
        (cookie,) = context.cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        watched.screenshot("sign-in")
    expect(page.locator(".who")).to_contain_text("signed in as alice")
    names = page.locator("#repositories tbody tr td:first-child")
    expect(names).to_have_text(["public/tools", "team/service"])
    page.get_by_role("link", name="team/service").click()
    expect(page.locator("#tags tbody tr")).to_have_count(2)
    if mode == "token":
        page.get_by_role("button", name="Sign out").click()
        expect(page.locator("#repositories tbody tr td:first-child")).to_have_text(["public/tools"])
    watched.expect_clean()
    context.close()
