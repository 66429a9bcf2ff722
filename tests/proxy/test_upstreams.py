"""The [[upstream]] tables: what they accept, what they refuse, and where names route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from registry import config
from registry.proxy.upstreams import Route, parse_upstreams

HUB = {"prefix": "hub", "url": "https://registry-1.docker.io", "namespaces": ["docker.io"]}
GHCR = {"prefix": "ghcr", "url": "https://ghcr.io", "default": False}


@pytest.mark.parametrize(
    "tables, message",
    [
        pytest.param([{"url": "https://x.io"}], "prefix must be", id="no-prefix"),
        pytest.param([{"prefix": "Hub", "url": "https://x.io"}], "prefix must be", id="case"),
        pytest.param([{"prefix": "hub", "url": "ftp://x.io"}], "url must be", id="scheme"),
        pytest.param([HUB, {**GHCR, "prefix": "hub"}], "more than one with prefix", id="twice"),
        pytest.param([HUB, {**GHCR, "namespaces": ["docker.io"]}], "namespace", id="ns"),
        pytest.param([{**HUB, "ttl": "soon"}], "ttl must be a duration", id="ttl"),
        pytest.param([{**HUB, "colour": "red"}], "unknown keys colour", id="unknown"),
        pytest.param([{**HUB, "password_env": "NOT_SET_ANYWHERE"}], "not set", id="env"),
        pytest.param(
            [{**HUB, "default": True}, {**GHCR, "default": True}], "more than one", id="defaults"
        ),
    ],
)
def test_bad_tables_are_refused(tables: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        parse_upstreams(tables)


def test_names_route_by_prefix_namespace_and_default() -> None:
    upstreams = parse_upstreams([{**HUB, "default": True}, GHCR])
    hub, ghcr = upstreams.all
    assert upstreams.route("hub/library/alpine") == Route(
        hub, "hub/library/alpine", "library/alpine"
    )
    assert upstreams.route("library/alpine", "docker.io") == Route(
        hub, "hub/library/alpine", "library/alpine"
    )
    assert upstreams.route("ghcr/org/tool", "quay.io") == Route(ghcr, "ghcr/org/tool", "org/tool")
    assert upstreams.route("team/app") is None
    assert upstreams.fallback("team/app") == Route(hub, "hub/team/app", "team/app", fallback=True)
    assert upstreams.fallback("ghcr/org/tool") is None
    assert upstreams.is_cache("hub/x") and not upstreams.is_cache("hubble/x")


def test_passwords_are_masked_where_settings_are_shown(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[upstream]]\nprefix = "hub"\nurl = "https://x.io"\npassword = "s3cret"\n')
    settings = config.load(path, {}, {})
    shown = config.shown("upstream", settings.upstream)
    assert shown[0]["password"] == config.MASK
    assert settings.upstream[0]["password"] == "s3cret"
