"""Settings: defaults, then a TOML file, then ARTIFACT_STORE_* variables, then flags.

Each later source wins over the earlier ones. Every setting has the same name
in all three: `data_dir` in TOML, ARTIFACT_STORE_DATA_DIR, --data-dir.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "ARTIFACT_STORE_"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    addr: str = "127.0.0.1:5000"
    data_dir: Path = field(default_factory=lambda: Path("data"))
    metadata_url: str | None = None  # default: SQLite in data_dir
    log_level: str = "info"

    @property
    def host_port(self) -> tuple[str, int]:
        host, sep, port = self.addr.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError(f"addr must be HOST:PORT, got {self.addr!r}")
        return host.strip("[]") or "0.0.0.0", int(port)


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
DESCRIPTIONS = {
    "addr": "HOST:PORT to listen on (default 127.0.0.1:5000)",
    "data_dir": "directory for blobs and the SQLite metadata (default ./data)",
    "metadata_url": "SQLAlchemy URL of the metadata database (default sqlite in the data dir)",
    "log_level": "debug, info, warning, error or critical (default info)",
}


def load(config_file: Path | None, env: Mapping[str, str], flags: Mapping[str, Any]) -> Settings:
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(_from_file(config_file))
    values.update(_from_env(env))
    values.update({k: v for k, v in flags.items() if v is not None and k in FIELDS})
    return _build(values)


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ConfigError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
    return data


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    return {
        name: env[ENV_PREFIX + name.upper()] for name in FIELDS if ENV_PREFIX + name.upper() in env
    }


def _build(values: dict[str, Any]) -> Settings:
    settings = Settings(**{k: _convert(k, v) for k, v in values.items()})
    if settings.log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
    settings.host_port  # noqa: B018 - validates addr early
    return settings


def _convert(name: str, value: Any) -> Any:
    if name == "data_dir":
        return Path(value)
    if name == "log_level":
        return str(value).lower()
    return value
