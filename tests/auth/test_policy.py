"""Repository glob patterns, rules from TOML, and what the policy grants whom."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.auth.policy import ANONYMOUS, Policy, Principal
from registry.config import ConfigError
from storage.globs import glob_regex

from .helpers import POLICY_TOML, load_settings


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        pytest.param("team/*", "team/app", True, id="star-one-component"),
        pytest.param("team/*", "team/app/sub", False, id="star-not-across-slash"),
        pytest.param("team/**", "team/app/sub", True, id="globstar-across"),
        pytest.param("team/**", "team", False, id="globstar-needs-the-slash"),
        pytest.param("team/**", "teamx/app", False, id="prefix-is-a-component"),
        pytest.param("**", "any/thing/at/all", True, id="everything"),
        pytest.param("app?", "app1", True, id="question-one-char"),
        pytest.param("app?", "app/", False, id="question-not-slash"),
        pytest.param("a.b", "axb", False, id="dot-is-literal"),
        pytest.param("*/app", "team/app", True, id="leading-star"),
        pytest.param("team/app", "team/app", True, id="exact"),
    ],
)
def test_globs(pattern: str, name: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).fullmatch(name)) is matches


def policy(tmp_path: Path, body: str = POLICY_TOML) -> Policy:
    settings = load_settings(tmp_path, body)
    return Policy.from_settings(settings.auth_policy, settings.auth_groups)


@pytest.mark.parametrize(
    ("user", "repository", "actions"),
    [
        pytest.param("alice", "any/where", {"pull", "push", "delete", "admin"}, id="admin-group"),
        pytest.param("bob", "team/app", {"pull", "push"}, id="team-group"),
        pytest.param("bob", "team/deep/app", {"pull", "push"}, id="team-globstar"),
        pytest.param("bob", "other/x", set(), id="team-elsewhere"),
        pytest.param("bob", "public/x", {"pull"}, id="anonymous-rules-cover-users"),
        pytest.param("carol", "other/x", {"pull"}, id="user-rule"),
        pytest.param("carol", "other/x/y", set(), id="user-rule-one-level"),
        pytest.param(None, "public/a/b", {"pull"}, id="anonymous"),
        pytest.param(None, "team/app", set(), id="anonymous-elsewhere"),
        pytest.param("mallory", "team/app", set(), id="unlisted-user"),
    ],
)
def test_grants(tmp_path: Path, user: str | None, repository: str, actions: set[str]) -> None:
    principal = Principal(user) if user else ANONYMOUS
    assert policy(tmp_path).actions(principal, repository) == actions


def test_without_rules_signed_in_users_may_do_everything(tmp_path: Path) -> None:
    empty = policy(tmp_path, "")
    assert empty.actions(Principal("anyone"), "x/y") == {"pull", "push", "delete", "admin"}
    assert empty.actions(ANONYMOUS, "x/y") == frozenset()
    assert not empty.may_pull_somewhere(ANONYMOUS)
    assert empty.is_admin(Principal("anyone")) and not empty.is_admin(ANONYMOUS)


def test_admin_is_granted_only_by_name(tmp_path: Path) -> None:
    rules = policy(
        tmp_path,
        '[[auth_policy]]\nrepositories = ["**"]\nactions = ["*"]\nusers = ["dev"]\n'
        '[[auth_policy]]\nrepositories = ["**"]\nactions = ["admin"]\nusers = ["ops"]\n',
    )
    assert not rules.is_admin(Principal("dev"))
    assert rules.is_admin(Principal("ops"))
    assert not rules.allows(Principal("ops"), "x", "pull")


def test_any_signed_in_user(tmp_path: Path) -> None:
    rules = '[[auth_policy]]\nrepositories = ["shared/*"]\nusers = ["*"]\nactions = ["pull"]\n'
    shared = policy(tmp_path, rules)
    assert shared.allows(Principal("zed"), "shared/x", "pull")
    assert not shared.allows(ANONYMOUS, "shared/x", "pull")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            '[[auth_policy]]\nrepositories = ["x"]\nactions = ["pull"]\nuser = ["a"]\n',
            "unknown keys user",
            id="unknown-key",
        ),
        pytest.param(
            '[[auth_policy]]\nrepositories = ["x"]\nactions = ["read"]\n',
            "actions must be from pull, push, delete",
            id="unknown-action",
        ),
        pytest.param(
            '[[auth_policy]]\nactions = ["pull"]\nusers = ["a"]\n',
            "needs repositories",
            id="no-repositories",
        ),
        pytest.param('auth_policy = "pull everything"\n', "must be a TOML array", id="not-array"),
    ],
)
def test_bad_rules_are_refused(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        policy(tmp_path, body)


def test_policy_cannot_come_from_the_environment(tmp_path: Path) -> None:
    from registry import config

    env = {"ARTIFACT_STORE_AUTH_POLICY": "[]", "ARTIFACT_STORE_AUTH_HTPASSWD": "/x"}
    settings = config.load(None, env, {})
    assert settings.auth_policy == ()
    assert settings.auth_mode == "basic"
