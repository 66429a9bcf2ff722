"""The storage rules as the TOML file writes them: what parses into what, and what stops
the server with a message naming the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.config import ConfigError, load
from registry.policy_rules import storage_policy

VALID = """
[[immutable_tags]]
repositories = ["prod/**"]
tags = ["v*"]

[[quota]]
repositories = ["team/**"]
max_bytes = 1000

[[retention]]
repositories = ["ci/**"]
keep_tags = ["release-*"]
keep_most_recent = 3
pushed_within = "30d"
delete_untagged = true
"""


def test_rules_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(VALID)
    policy = storage_policy(load(path, {}, {}))
    assert policy.protecting("prod/api", "v2") is policy.immutable_tags[0]
    assert [quota.max_bytes for quota in policy.quotas_of("team/a/b")] == [1000]
    rule = policy.retention_of("ci/app")
    assert rule is not None
    assert (rule.keep_most_recent, rule.pushed_within, rule.delete_untagged) == (
        3,
        30 * 86400,
        True,
    )
    assert rule.keep_tags.matches("release-2") and not rule.keep_tags.matches("v2")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        pytest.param(
            "[[quota]]\nrepositories = ['a/**']", "quota rule 1: needs max_bytes", id="no-limit"
        ),
        pytest.param(
            "[[quota]]\nrepositories = ['a']\nmax_bytes = -1",
            "quota rule 1: max_bytes must be a whole number",
            id="negative-limit",
        ),
        pytest.param("[[quota]]\nmax_bytes = 5", "quota rule 1: needs repositories", id="no-globs"),
        pytest.param(
            "[[immutable_tags]]\nrepositories = ['a']\ntag = ['v*']",
            "immutable_tags rule 1: unknown keys tag",
            id="misspelt-key",
        ),
        pytest.param(
            "[[immutable_tags]]\nrepositories = ['a']\ntags = 'v*'",
            "immutable_tags rule 1: tags must be a list of glob patterns",
            id="tags-not-a-list",
        ),
        pytest.param(
            "[[retention]]\nrepositories = ['a']\npushed_within = 'a month'",
            "retention rule 1 pushed_within must be a duration",
            id="bad-window",
        ),
        pytest.param(
            "[[retention]]\nrepositories = ['a']\ndelete_untagged = 'yes'",
            "retention rule 1: delete_untagged must be true or false",
            id="bad-boolean",
        ),
        pytest.param("retention = 3", "retention must be a TOML array of tables", id="not-tables"),
    ],
)
def test_a_bad_rule_names_itself(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load(path, {}, {})
