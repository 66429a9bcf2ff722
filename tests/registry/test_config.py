from __future__ import annotations

from pathlib import Path

import pytest

from registry.cli import build_parser, main
from registry.config import ConfigError, Settings, load


def test_flags_win_over_env_and_env_over_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        'addr = "127.0.0.1:7000"\ndata_dir = "/file"\nlog_level = "debug"\nmetadata_url = "sqlite:///f.db"\n'
    )
    env = {"ARTIFACT_STORE_DATA_DIR": "/env", "ARTIFACT_STORE_LOG_LEVEL": "WARNING"}
    flags = {"addr": "127.0.0.1:9000", "data_dir": None}
    assert load(config, env, flags) == Settings(
        addr="127.0.0.1:9000",
        data_dir=Path("/env"),
        log_level="warning",
        metadata_url="sqlite:///f.db",
    )


def test_defaults() -> None:
    settings = load(None, {}, {})
    assert (settings.addr, settings.data_dir, settings.host_port) == (
        "127.0.0.1:5000",
        Path("data"),
        ("127.0.0.1", 5000),
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"ARTIFACT_STORE_ADDR": "nohost"}, "HOST:PORT", id="bad-addr"),
        pytest.param({"ARTIFACT_STORE_LOG_LEVEL": "loud"}, "log_level", id="bad-level"),
        pytest.param({"ARTIFACT_STORE_LOG_FORMAT": "xml"}, "log_format", id="bad-log-format"),
        pytest.param({"ARTIFACT_STORE_METRICS_ADDR": "9100"}, "metrics_addr", id="metrics-addr"),
        pytest.param(
            {"ARTIFACT_STORE_METRICS_USAGE_INTERVAL": "0s"}, "at least 1s", id="usage-interval"
        ),
    ],
)
def test_bad_settings(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(None, env, {})


def test_unknown_key_in_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('colour = "blue"\n')
    with pytest.raises(ConfigError, match="colour"):
        load(config, {}, {})


def test_cli_reports_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err


def test_help_documents_every_setting() -> None:
    text = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]
    for name in (
        "--addr",
        "--data-dir",
        "--config",
        "ARTIFACT_STORE_METADATA_URL",
        "ARTIFACT_STORE_LOG_LEVEL",
    ):
        assert name in text


def test_configuration_reference_lists_every_setting() -> None:
    from registry.config import reference_table

    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    assert reference_table() in text, "regenerate the table: python -m registry.config"


def test_every_setting_has_a_variable_and_a_flag() -> None:
    from registry.config import SPECS, env_name, flag_name

    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    flags = {option for action in serve._actions for option in action.option_strings}
    for name, spec in SPECS.items():
        if spec.table:
            assert flag_name(name) not in flags
            assert load(None, {env_name(name): "x"}, {}) == Settings()  # tables: TOML only
        else:
            assert flag_name(name) in flags, name


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("30s", 30.0, id="seconds"),
        pytest.param("90m", 5400.0, id="minutes"),
        pytest.param("24h", 86400.0, id="hours"),
        pytest.param("7d", 604800.0, id="days"),
        pytest.param("1h30m", 5400.0, id="compound"),
        pytest.param("0s", 0.0, id="zero"),
        pytest.param("45", 45.0, id="bare-number"),
        pytest.param(2.5, 2.5, id="toml-float"),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    from registry.config import parse_duration

    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("1w", id="unknown-unit"),
        pytest.param("h", id="no-number"),
        pytest.param("-5s", id="negative"),
        pytest.param("5s junk", id="trailing"),
        pytest.param("\u0661\u0665s", id="unicode-digits"),
        pytest.param(float("inf"), id="infinite"),
    ],
)
def test_bad_durations(text: object) -> None:
    from registry.config import parse_duration

    with pytest.raises(ConfigError, match=r"duration|negative"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"ARTIFACT_STORE_AUTH_TOKEN_TTL": "²"}, "whole number", id="unicode-digit"),
        pytest.param({"ARTIFACT_STORE_AUTH_TOKEN_TTL": "-1"}, "whole number", id="negative"),
        pytest.param({"ARTIFACT_STORE_AUTH": "ldap"}, "auth must be one of", id="bad-choice"),
        pytest.param({"ARTIFACT_STORE_S3_PART_SIZE": "99999999999999"}, "s3_part_size", id="huge"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(None, env, {})


def test_choices_ignore_case() -> None:
    env = {"ARTIFACT_STORE_AUTH_TOKEN_ALGORITHM": "eddsa", "ARTIFACT_STORE_STORAGE": "FILESYSTEM"}
    settings = load(None, env, {})
    assert (settings.auth_token_algorithm, settings.storage) == ("EdDSA", "filesystem")


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip()
