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
    from registry.config import DESCRIPTIONS, ENV_PREFIX

    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    for name in DESCRIPTIONS:
        assert f"`{name}`" in text and f"`{ENV_PREFIX}{name.upper()}`" in text
