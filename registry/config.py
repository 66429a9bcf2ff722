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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.s3 import S3Config

ENV_PREFIX = "ARTIFACT_STORE_"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
AUTH_MODES = ("none", "basic", "token")
TOKEN_ALGORITHMS = ("ES256", "EdDSA")
PATH_SETTINGS = {"tls_cert", "tls_key", "auth_htpasswd", "auth_token_key", "auth_trusted_keys"}
INT_SETTINGS = {
    "auth_token_ttl",
    "auth_refresh_ttl",
    "auth_clock_skew",
    "auth_max_failures",
    "auth_failure_window",
}
TOML_ONLY = {"auth_groups", "auth_policy"}
STORAGE_BACKENDS = ("filesystem", "s3")
MIN_S3_PART = 5 * 1024 * 1024
MAX_S3_PART = 5 * 1024 * 1024 * 1024
BOOLEANS = {"1": True, "true": True, "yes": True, "on": True}
BOOLEANS.update({"0": False, "false": False, "no": False, "off": False})


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    addr: str = "127.0.0.1:5000"
    data_dir: Path = field(default_factory=lambda: Path("data"))
    metadata_url: str | None = None  # default: SQLite in data_dir
    log_level: str = "info"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    auth: str | None = None  # default: "basic" when auth_htpasswd is set, else "none"
    auth_htpasswd: Path | None = None
    auth_groups: dict[str, list[str]] = field(default_factory=dict)
    auth_policy: tuple[dict[str, Any], ...] = ()
    auth_token_realm: str | None = None  # default: /token on the address the client used
    auth_token_service: str = "artifact-store"
    auth_token_issuer: str = "artifact-store"
    auth_token_key: Path | None = None  # default: DATA_DIR/auth/token-signing-key.pem
    auth_token_algorithm: str = "ES256"
    auth_token_ttl: int = 300
    auth_refresh_ttl: int = 7 * 24 * 3600
    auth_trusted_keys: Path | None = None
    auth_trusted_issuer: str | None = None
    auth_clock_skew: int = 30
    auth_max_failures: int = 10
    auth_failure_window: int = 300
    storage: str = "filesystem"
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None  # default: AWS, from the region
    s3_region: str | None = None  # default: the AWS configuration's
    s3_prefix: str = ""
    s3_part_size: int = 8 * 1024 * 1024
    s3_redirect: bool = False

    @property
    def auth_mode(self) -> str:
        if self.auth is not None:
            return self.auth
        return "basic" if self.auth_htpasswd is not None else "none"

    @property
    def s3(self) -> S3Config | None:
        """The S3 backend's settings, or None when blobs live in the data directory."""
        if self.storage != "s3" or self.s3_bucket is None:
            return None
        from storage.s3 import S3Config

        return S3Config(
            bucket=self.s3_bucket,
            endpoint_url=self.s3_endpoint_url,
            region=self.s3_region,
            prefix=self.s3_prefix,
            part_size=self.s3_part_size,
            redirect=self.s3_redirect,
        )

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
    "tls_cert": "PEM certificate (chain) to serve HTTPS with; needs tls_key",
    "tls_key": "PEM private key of tls_cert",
    "auth": "none, basic or token (default basic when auth_htpasswd is set, else none)",
    "auth_htpasswd": "htpasswd file of bcrypt entries; re-read when it changes",
    "auth_groups": "TOML table only: group name -> list of user names",
    "auth_policy": "TOML array of tables only: repositories, actions, users, groups, anonymous",
    "auth_token_realm": "token endpoint URL in Bearer challenges (default: this server's /token)",
    "auth_token_service": "service name in challenges; the audience of tokens (artifact-store)",
    "auth_token_issuer": "issuer of the tokens this server signs (default artifact-store)",
    "auth_token_key": "signing key, created on first start (default DATA_DIR/auth/...pem)",
    "auth_token_algorithm": "ES256 or EdDSA, for a generated signing key (default ES256)",
    "auth_token_ttl": "lifetime of issued access tokens in seconds (default 300)",
    "auth_refresh_ttl": "lifetime of refresh tokens in seconds (default 604800)",
    "auth_trusted_keys": "public keys (PEM or JWKS) of an external token issuer",
    "auth_trusted_issuer": "the iss claim of tokens signed with auth_trusted_keys",
    "auth_clock_skew": "seconds of leeway on exp, nbf and iat (default 30)",
    "auth_max_failures": "failed logins per client address before 429; 0: no limit (10)",
    "auth_failure_window": "seconds over which failed logins count (default 300)",
    "storage": "where blob bytes live: filesystem (the data dir) or s3 (default filesystem)",
    "s3_bucket": "S3 bucket for storage = s3; credentials from the standard AWS chain",
    "s3_endpoint_url": "S3 endpoint of an S3-compatible server (default AWS)",
    "s3_region": "S3 region (default from the AWS configuration)",
    "s3_prefix": "key prefix inside the bucket (default none)",
    "s3_part_size": "multipart part size in bytes, 5 MiB to 5 GiB (default 8388608)",
    "s3_redirect": "answer blob GETs with 307 to a presigned S3 URL (default false)",
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
        name: env[ENV_PREFIX + name.upper()]
        for name in FIELDS
        if ENV_PREFIX + name.upper() in env and name not in TOML_ONLY
    }


def _build(values: dict[str, Any]) -> Settings:
    settings = Settings(**{k: _convert(k, v) for k, v in values.items()})
    if settings.log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
    settings.host_port  # noqa: B018 - validates addr early
    _check_auth(settings)
    _check_storage(settings)
    return settings


def _check_storage(settings: Settings) -> None:
    if settings.storage not in STORAGE_BACKENDS:
        raise ConfigError(f"storage must be one of {', '.join(STORAGE_BACKENDS)}")
    if settings.storage == "s3" and not settings.s3_bucket:
        raise ConfigError("storage = s3 needs s3_bucket")
    if not MIN_S3_PART <= settings.s3_part_size <= MAX_S3_PART:
        raise ConfigError("s3_part_size must be from 5 MiB (5242880) to 5 GiB")


def _check_auth(settings: Settings) -> None:
    if settings.auth_mode not in AUTH_MODES:
        raise ConfigError(f"auth must be one of {', '.join(AUTH_MODES)}")
    if settings.auth_token_algorithm not in TOKEN_ALGORITHMS:
        raise ConfigError(f"auth_token_algorithm must be one of {', '.join(TOKEN_ALGORITHMS)}")
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ConfigError("tls_cert and tls_key go together")
    if (settings.auth_trusted_keys is None) != (settings.auth_trusted_issuer is None):
        raise ConfigError("auth_trusted_keys and auth_trusted_issuer go together")
    if settings.auth_mode == "basic" and settings.auth_htpasswd is None:
        raise ConfigError("auth = basic needs auth_htpasswd")
    if settings.auth_mode == "token" and not (settings.auth_htpasswd or settings.auth_trusted_keys):
        raise ConfigError("auth = token needs auth_htpasswd (built-in issuer) or auth_trusted_keys")
    if settings.auth_mode == "token" and not (settings.auth_htpasswd or settings.auth_token_realm):
        raise ConfigError("auth = token with only an external issuer needs auth_token_realm")


def _convert(name: str, value: Any) -> Any:
    if name == "data_dir":
        return Path(value)
    if name == "log_level":
        return str(value).lower()
    if name in PATH_SETTINGS:
        return Path(value)
    if name in INT_SETTINGS:
        return _integer(name, value)
    if name == "auth":
        return str(value).lower()
    if name in TOML_ONLY:
        return _policy_value(name, value)
    if name == "s3_part_size":
        return _integer(name, value)
    if name == "s3_redirect":
        return _boolean(name, value)
    if name == "storage":
        return str(value).lower()
    return value


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() not in BOOLEANS:
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return BOOLEANS[str(value).lower()]


def _integer(name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from exc
    if number < 0:
        raise ConfigError(f"{name} must not be negative")
    return number


def _policy_value(name: str, value: Any) -> Any:
    if name == "auth_groups" and isinstance(value, dict):
        return value
    if name == "auth_policy" and isinstance(value, list):
        return tuple(value)
    raise ConfigError(f"{name} must be a TOML {'table' if name == 'auth_groups' else 'array'}")
