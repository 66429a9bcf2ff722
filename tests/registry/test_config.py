from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from registry import config
from registry.cli import build_parser, main
from registry.config import ConfigError, Settings, Spec, load, load_with_sources


def serve_parser() -> argparse.ArgumentParser:
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    parser: argparse.ArgumentParser = commands.choices["serve"]
    return parser


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
        pytest.param({"ARTIFACT_STORE_ADDR": "127.0.0.1:70000"}, "HOST:PORT", id="port-too-big"),
        pytest.param(
            {"ARTIFACT_STORE_METADATA_URL": "postgres://app:hunter2@db/registry"},
            r"metadata_url must be a postgresql:// or sqlite:/// URL, got 'postgres://app:\*\*\*@",
            id="metadata-url-scheme",
        ),
        pytest.param(
            {"ARTIFACT_STORE_METADATA_URL": "postgresql://app@db:port/registry"},
            "metadata_url must be",
            id="metadata-url-port",
        ),
        pytest.param(
            {"ARTIFACT_STORE_S3_ENDPOINT_URL": "seaweedfs:8333"},
            "s3_endpoint_url must be an http:// or https:// URL",
            id="s3-endpoint",
        ),
        pytest.param({"ARTIFACT_STORE_LOG_FORMAT": "xml"}, "log_format", id="bad-log-format"),
        pytest.param({"ARTIFACT_STORE_METRICS_ADDR": "9100"}, "metrics_addr", id="metrics-addr"),
        pytest.param(
            {"ARTIFACT_STORE_METRICS_USAGE_INTERVAL": "0s"}, "at least 1s", id="usage-interval"
        ),
    ],
)
def test_bad_settings(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        load(None, env, {})
    assert "hunter2" not in str(raised.value) and "; " in str(raised.value)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('colour = "blue"\n')
    with pytest.raises(ConfigError, match="colour"):
        load(config, {}, {})


def test_cli_reports_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err


def test_help_documents_every_setting() -> None:
    text = serve_parser().format_help()
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

    serve = serve_parser()
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


def test_each_setting_says_where_its_value_came_from(tmp_path: Path) -> None:
    file = tmp_path / "settings.toml"
    file.write_text('data_dir = "/file"\nlog_level = "debug"\naddr = "127.0.0.1:1"\n')
    env = {"ARTIFACT_STORE_LOG_LEVEL": "warning", "ARTIFACT_STORE_ADDR": "127.0.0.1:2"}
    loaded = load_with_sources(file, env, {"addr": "127.0.0.1:3", "storage": None})
    assert (loaded.settings.addr, loaded.settings.log_level) == ("127.0.0.1:3", "warning")
    assert {
        name: loaded.sources[name] for name in ("data_dir", "log_level", "addr", "storage")
    } == {
        "data_dir": "file",
        "log_level": "environment",
        "addr": "flag",
        "storage": "default",
    }
    assert config.load(file, env, {"addr": "127.0.0.1:3"}) == loaded.settings


@pytest.mark.parametrize(
    ("file", "env", "flags", "where"),
    [
        pytest.param('s3_part_size = "big"\n', {}, {}, "correct s3_part_size in ", id="file"),
        pytest.param("", {"ARTIFACT_STORE_S3_PART_SIZE": "big"}, {}, "ARTIFACT_STORE_", id="env"),
        pytest.param("", {}, {"s3_part_size": "big"}, "correct --s3-part-size", id="flag"),
    ],
)
def test_a_bad_value_names_where_it_came_from(
    tmp_path: Path, file: str, env: dict[str, str], flags: dict[str, str], where: str
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(file)
    with pytest.raises(ConfigError, match="s3_part_size must be a whole number") as raised:
        load_with_sources(path, env, flags)
    assert where in str(raised.value)


@pytest.mark.parametrize(
    ("spec", "value", "shown"),
    [
        pytest.param(Spec("x", secret=True), "hunter2", "***", id="secret"),
        pytest.param(Spec("x", secret=True), None, None, id="secret-unset"),
        pytest.param(
            Spec("x"),
            "postgresql://app:p%40ss@db.example:5432/registry",
            "postgresql://app:***@db.example:5432/registry",
            id="url-password",
        ),
        pytest.param(
            Spec("x"), "postgresql://app@db/registry", "postgresql://app@db/registry", id="url"
        ),
        pytest.param(Spec("x", duration=True), 5400.0, "90m", id="duration"),
        pytest.param(Spec("x"), Path("/srv/data"), "/srv/data", id="path"),
        pytest.param(Spec("x"), 8, 8, id="number"),
    ],
)
def test_masked(spec: Spec, value: object, shown: object) -> None:
    assert config.masked(spec, value) == shown


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30s"), (5400, "90m"), (86400, "1d"), (7 * 86400, "7d"), (1.5, "1.5s"), (0, "0s")],
)
def test_durations_are_shown_as_written(seconds: float, text: str) -> None:
    assert config.duration_text(seconds) == text
    assert config.parse_duration(text) == seconds


def test_workers_default_to_the_usable_cores_at_most_eight() -> None:
    usable = len(os.sched_getaffinity(0))
    assert load(None, {}, {}).worker_count == min(usable, 8)
    assert load(None, {"ARTIFACT_STORE_WORKERS": "1"}, {}).worker_count == 1
    assert load(None, {}, {"workers": "12"}).worker_count == 12
    with pytest.raises(ConfigError, match="workers must be from 1"):
        load(None, {"ARTIFACT_STORE_WORKERS": "0"}, {})


def test_the_server_is_granian_unless_hypercorn_is_chosen() -> None:
    assert load(None, {}, {}).server == "granian"
    assert load(None, {"ARTIFACT_STORE_SERVER": "Hypercorn"}, {}).server == "hypercorn"
    with pytest.raises(ConfigError, match="server must be one of granian, hypercorn"):
        load(None, {"ARTIFACT_STORE_SERVER": "uvicorn"}, {})
