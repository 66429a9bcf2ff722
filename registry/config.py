"""Settings: defaults, then a TOML file, then ARTIFACT_STORE_* variables, then flags.

Each later source wins over the earlier ones. Every setting is declared once,
as a field of `Settings` whose `setting(...)` metadata holds its help text and
how to read it; the TOML key, the ARTIFACT_STORE_<NAME> variable, the
--<name-with-dashes> flag, `serve --help` and docs/configuration.md all derive
from that declaration (`data_dir` in TOML, ARTIFACT_STORE_DATA_DIR, --data-dir).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from storage.s3_plan import MAX_PART, MIN_PART

if TYPE_CHECKING:
    from storage.s3_plan import S3Config

ENV_PREFIX = "ARTIFACT_STORE_"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")
AUTH_MODES = ("none", "basic", "token")
TOKEN_ALGORITHMS = ("ES256", "EdDSA")
STORAGE_BACKENDS = ("filesystem", "s3")
SERVERS = ("granian", "hypercorn")
MAX_DEFAULT_WORKERS = 8  # beyond this the metadata database, not the CPU, is the limit
BOOLEANS = {"1": True, "true": True, "yes": True, "on": True}
BOOLEANS.update({"0": False, "false": False, "no": False, "off": False})
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd])")
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
MASK = "***"
MAX_PORT = 65535
# The metadata databases the registry speaks to, and the drivers it has.
METADATA_SCHEMES = (
    "sqlite",
    "sqlite+pysqlite",
    "sqlite+aiosqlite",
    "postgresql",
    "postgresql+asyncpg",
)
# Where a setting's value came from, weakest first: each later source wins.
SOURCES = ("default", "file", "environment", "flag")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Spec:
    """How one setting is read and shown; kept as the field's metadata."""

    help: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    duration: bool = False  # seconds, written 30s, 90m, 24h or 7d
    table: bool = False  # a TOML table or array of tables: no variable, no flag
    secret: bool = False  # masked wherever the effective configuration is shown
    secret_keys: tuple[str, ...] = ()  # keys of a table's entries masked the same way


def setting(default: Any, help: str, **spec: Any) -> Any:
    """A Settings field with its Spec; mutable defaults are copied per instance."""
    metadata = {"spec": Spec(help, **spec)}
    if isinstance(default, dict | list):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    addr: str = setting("127.0.0.1:5000", "HOST:PORT to listen on (default 127.0.0.1:5000)")
    data_dir: Path = setting(
        Path("data"), "directory for blobs and the SQLite metadata (default ./data)"
    )
    metadata_url: str | None = setting(
        None, "SQLAlchemy URL of the metadata database (default sqlite in the data dir)"
    )
    metadata_connect_timeout: float = setting(
        30.0,
        "how long start-up retries a metadata database it cannot reach, with backoff (30s)",
        duration=True,
    )
    log_level: str = setting(
        "info", "debug, info, warning, error or critical (default info)", choices=LOG_LEVELS
    )
    server: str = setting(
        "granian", "HTTP server: granian or hypercorn (default granian)", choices=SERVERS
    )
    workers: int | None = setting(
        None,
        "processes serving addr (default: one per CPU core this process may use, at most 8;"
        " 1: a single process)",
        minimum=1,
        maximum=256,
    )
    log_format: str = setting(
        "text",
        "text, or json: one JSON object per line for every record (default text)",
        choices=LOG_FORMATS,
    )
    metrics_addr: str | None = setting(
        None, "HOST:PORT to serve /metrics on, without auth, instead of on addr (default none)"
    )
    metrics_usage_interval: float = setting(
        60.0,
        "how often one process counts blobs, bytes and upload sessions for /metrics (1m)",
        duration=True,
    )
    notifications: tuple[dict[str, Any], ...] = setting(
        (),
        "TOML array of tables only: webhook sinks (name, url, headers, actions, repositories, "
        "timeout, backoff, backoff_max, format); see docs/operations.md",
        table=True,
    )
    body_timeout: float = setting(
        60.0,
        "longest wait for the next bytes of a request body before answering 408 and closing"
        " the connection (60s)",
        duration=True,
    )
    max_requests: int = setting(
        1000,
        "requests one process serves at a time; more are refused at once with 503 and"
        " Retry-After (default 1000)",
        minimum=1,
    )
    max_upload_sessions: int = setting(
        1000,
        "open upload sessions per repository; a POST past it is refused with 429"
        " (default 1000; 0: no limit)",
        minimum=0,
    )
    max_upload_sessions_per_client: int = setting(
        200,
        "open upload sessions per client (the signed-in user, else the address) across all"
        " repositories; a POST past it is refused with 429 (default 200; 0: no limit)",
        minimum=0,
    )
    zero_copy_pulls: bool = setting(
        True,
        "on granian, send whole filesystem blobs as files (fast; ~300 KiB per slow reader);"
        " false streams them in 16 KiB chunks (~110 KiB per slow reader) (default true)",
    )
    upstream: tuple[dict[str, Any], ...] = setting(
        (),
        "TOML array of tables only: registries to cache (prefix, url, namespaces, username,"
        " password, username_env, password_env, ttl, timeout, default); see docs/proxy.md",
        table=True,
        secret_keys=("password",),
    )
    proxy_keep: float = setting(
        7 * 86400.0,
        "gc keeps a cached repository whole while a client pulled it within this; one not"
        " pulled for longer is collected and fetched again on its next pull (default 7d)",
        duration=True,
    )
    pull_events: bool = setting(
        False, "record manifest and blob pulls in the event log, in batches (default false)"
    )
    immutable_tags: tuple[dict[str, Any], ...] = setting(
        (),
        "TOML array of tables only: tags no push may move and no delete may remove"
        " (repositories, tags); see docs/policy.md",
        table=True,
    )
    quota: tuple[dict[str, Any], ...] = setting(
        (),
        "TOML array of tables only: bytes a repository or namespace may hold"
        " (repositories, max_bytes); see docs/policy.md",
        table=True,
    )
    retention: tuple[dict[str, Any], ...] = setting(
        (),
        "TOML array of tables only: which tags retention keeps (repositories, keep_tags,"
        " keep_most_recent, pushed_within, delete_untagged); see docs/policy.md",
        table=True,
    )
    tls_cert: Path | None = setting(
        None, "PEM certificate (chain) to serve HTTPS with; needs tls_key"
    )
    tls_key: Path | None = setting(None, "PEM private key of tls_cert")
    auth: str | None = setting(
        None,
        "none, basic or token (default basic when auth_htpasswd is set, else none)",
        choices=AUTH_MODES,
    )
    auth_htpasswd: Path | None = setting(
        None, "htpasswd file of bcrypt entries; re-read when it changes"
    )
    auth_groups: dict[str, list[str]] = setting(
        {}, "TOML table only: group name -> list of user names", table=True
    )
    auth_policy: tuple[dict[str, Any], ...] = setting(
        (),
        "TOML array of tables only: repositories, actions, users, groups, anonymous",
        table=True,
    )
    auth_token_realm: str | None = setting(
        None, "token endpoint URL in Bearer challenges (default: this server's /token)"
    )
    auth_token_service: str = setting(
        "artifact-store", "service name in challenges; the audience of tokens (artifact-store)"
    )
    auth_token_issuer: str = setting(
        "artifact-store", "issuer of the tokens this server signs (default artifact-store)"
    )
    auth_token_key: Path | None = setting(
        None, "signing key, created on first start (default DATA_DIR/auth/...pem)"
    )
    auth_token_algorithm: str = setting(
        "ES256",
        "ES256 or EdDSA, for a generated signing key (default ES256)",
        choices=TOKEN_ALGORITHMS,
    )
    auth_token_ttl: int = setting(300, "lifetime of issued access tokens in seconds (default 300)")
    auth_refresh_ttl: int = setting(
        7 * 24 * 3600, "lifetime of refresh tokens in seconds (default 604800)"
    )
    auth_trusted_keys: Path | None = setting(
        None, "public keys (PEM or JWKS) of an external token issuer"
    )
    auth_trusted_issuer: str | None = setting(
        None, "the iss claim of tokens signed with auth_trusted_keys"
    )
    auth_clock_skew: int = setting(30, "seconds of leeway on exp, nbf and iat (default 30)")
    auth_max_failures: int = setting(
        10, "failed logins per client address before 429; 0: no limit (10)"
    )
    auth_failure_window: int = setting(300, "seconds over which failed logins count (default 300)")
    ui: bool = setting(True, "serve the read-only web UI at /ui/ (default true)")
    ui_session_ttl: float = setting(
        8 * 3600.0,
        "how long a web UI sign-in lasts in token mode, as an HttpOnly cookie (8h)",
        duration=True,
    )
    storage: str = setting(
        "filesystem",
        "where blob bytes live: filesystem (the data dir) or s3 (default filesystem)",
        choices=STORAGE_BACKENDS,
    )
    s3_bucket: str | None = setting(
        None, "S3 bucket for storage = s3; credentials from the standard AWS chain"
    )
    s3_endpoint_url: str | None = setting(
        None, "S3 endpoint of an S3-compatible server (default AWS)"
    )
    s3_region: str | None = setting(None, "S3 region (default from the AWS configuration)")
    s3_prefix: str = setting("", "key prefix inside the bucket (default none)")
    s3_part_size: int = setting(
        8 * 1024 * 1024,
        "multipart part size in bytes, 5 MiB to 5 GiB (default 8388608)",
        minimum=MIN_PART,
        maximum=MAX_PART,
    )
    s3_redirect: bool = setting(
        False, "answer blob GETs with 307 to a presigned S3 URL (default false)"
    )
    scrub_interval: float = setting(
        0.0,
        "re-hash in the background every blob not verified for this long, e.g. 7d; one"
        " process of all at a time (default 0: off)",
        duration=True,
    )
    scrub_rate: int = setting(
        0, "MB/s the background scrub may read, on average (default 0: no cap)"
    )
    verify_reads: bool = setting(
        False,
        "hash whole-blob GETs as they are sent; a mismatch cuts the response short and"
        " quarantines the blob (default false: sends files zero-copy instead)",
    )
    read_only: bool = setting(
        False,
        "refuse every write (push, delete) with 405 UNSUPPORTED while reads go on (false)",
    )
    gc_interval: float = setting(
        0.0,
        "run garbage collection in the server this often, one process of all replicas at"
        " a time; 0: never (default 0)",
        duration=True,
    )
    gc_grace: float = setting(
        3600.0,
        "how long content stays unreferenced before gc removes it (default 1h)",
        duration=True,
    )
    gc_delete_untagged: bool = setting(
        False, "gc also deletes manifests no tag, tagged index or live subject holds (false)"
    )
    gc_keep_orphan_referrers: bool = setting(
        False, "gc keeps referrers whose subject manifest was deleted (default false)"
    )
    upload_max_age: float = setting(
        86400.0,
        "gc deletes upload sessions idle this long, with their data (default 24h)",
        duration=True,
    )

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
        from storage.s3_plan import S3Config

        return S3Config(
            bucket=self.s3_bucket,
            endpoint_url=self.s3_endpoint_url,
            region=self.s3_region,
            prefix=self.s3_prefix,
            part_size=self.s3_part_size,
            redirect=self.s3_redirect,
        )

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers is not None else default_workers()

    @property
    def host_port(self) -> tuple[str, int]:
        return split_addr(self.addr, "addr")


def split_addr(addr: str, name: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or int(port) > MAX_PORT:
        raise ConfigError(f"{name} must be HOST:PORT, got {addr!r}; write it as 0.0.0.0:5000")
    return host.strip("[]") or "0.0.0.0", int(port)


def default_workers() -> int:
    """One worker per core this process may run on, at most MAX_DEFAULT_WORKERS."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity call on this platform
        usable = os.cpu_count() or 1
    return max(1, min(usable, MAX_DEFAULT_WORKERS))


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
SPECS: dict[str, Spec] = {name: f.metadata["spec"] for name, f in FIELDS.items()}
DESCRIPTIONS = {name: spec.help for name, spec in SPECS.items()}
TYPES: dict[str, Any] = typing.get_type_hints(Settings)


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def base_type(name: str) -> Any:
    """The field's type without `| None`: str, Path, int, float, bool, dict or tuple."""
    hint = TYPES[name]
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = args[0]
    return typing.get_origin(hint) or hint


def optional(name: str) -> bool:
    return type(None) in typing.get_args(TYPES[name])


@dataclass(frozen=True)
class Loaded:
    settings: Settings
    sources: dict[str, str]  # setting name -> one of SOURCES


def load(config_file: Path | None, env: Mapping[str, str], flags: Mapping[str, Any]) -> Settings:
    return load_with_sources(config_file, env, flags).settings


def load_with_sources(
    config_file: Path | None, env: Mapping[str, str], flags: Mapping[str, Any]
) -> Loaded:
    """The settings, and for each the source its value came from."""
    given = {
        "file": _from_file(config_file) if config_file is not None else {},
        "environment": _from_env(env),
        "flag": {k: v for k, v in flags.items() if v is not None and k in FIELDS},
    }
    values: dict[str, Any] = {}
    sources = dict.fromkeys(FIELDS, "default")
    for source, found in given.items():
        values.update(found)
        sources.update(dict.fromkeys(found, source))
    origins = {name: _origin(name, source, config_file) for name, source in sources.items()}
    return Loaded(_build(_converted(values, origins)), sources)


def _origin(name: str, source: str, config_file: Path | None) -> str:
    """Where an operator corrects the value of `name` that came from `source`."""
    if source == "environment":
        return env_name(name)
    if source == "flag":
        return flag_name(name)
    return f"{name} in {config_file}"


def _converted(values: dict[str, Any], origins: dict[str, str]) -> dict[str, Any]:
    """Each value as its setting holds it; a bad one names where it came from."""
    converted = {}
    for name, value in values.items():
        try:
            converted[name] = convert(name, value)
        except ConfigError as exc:
            raise ConfigError(f"{exc}; correct {origins[name]}") from exc
    return converted


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}; correct it or --config") from exc
    unknown = set(data) - set(FIELDS)
    if unknown:
        names = ", ".join(sorted(unknown))
        fix = "correct or remove them (artifact-store serve --help lists every setting)"
        raise ConfigError(f"unknown settings in {path}: {names}; {fix}")
    return data


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    return {
        name: env[env_name(name)]
        for name, spec in SPECS.items()
        if env_name(name) in env and not spec.table
    }


def _build(values: dict[str, Any]) -> Settings:
    settings = Settings(**values)
    settings.host_port  # noqa: B018 - validates addr early
    if settings.metrics_addr is not None:
        split_addr(settings.metrics_addr, "metrics_addr")
    if settings.metrics_usage_interval < 1:
        raise ConfigError("metrics_usage_interval must be at least 1s; set it to 1s or more")
    _check_notifications(settings)
    _check_policy(settings)
    _check_upstreams(settings)
    _check_auth(settings)
    _check_urls(settings)
    if settings.storage == "s3" and not settings.s3_bucket:
        raise ConfigError("storage = s3 needs s3_bucket; set s3_bucket, or storage = filesystem")
    return settings


def _check_urls(settings: Settings) -> None:
    """The URLs a backend is reached by, in a form it can use; passwords never echoed."""
    url = settings.metadata_url
    if url is not None and not _url_fits(url, METADATA_SCHEMES):
        raise ConfigError(
            f"metadata_url must be a postgresql:// or sqlite:/// URL, got"
            f" {_url_without_password(url)!r}; write it as"
            " postgresql://USER:PASSWORD@HOST:5432/DATABASE"
        )
    endpoint = settings.s3_endpoint_url
    if endpoint is not None and not _url_fits(endpoint, ("http", "https"), needs_host=True):
        raise ConfigError(
            f"s3_endpoint_url must be an http:// or https:// URL, got"
            f" {_url_without_password(endpoint)!r}; write it as https://HOST[:PORT]"
        )


def _url_fits(url: str, schemes: tuple[str, ...], needs_host: bool = False) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return parts.scheme.lower() in schemes and (parts.hostname is not None or not needs_host)


def _check_notifications(settings: Settings) -> None:
    from registry.notifications.sinks import parse_sinks  # which takes ConfigError from here

    parse_sinks(settings.notifications)


def _check_policy(settings: Settings) -> None:
    from registry.policy_rules import storage_policy  # which takes ConfigError from here

    storage_policy(settings)


def _check_upstreams(settings: Settings) -> None:
    from registry.proxy.upstreams import parse_upstreams  # which takes ConfigError from here

    parse_upstreams(settings.upstream)


def _check_auth(settings: Settings) -> None:
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ConfigError("tls_cert and tls_key go together; set both, or neither")
    if (settings.auth_trusted_keys is None) != (settings.auth_trusted_issuer is None):
        raise ConfigError("auth_trusted_keys and auth_trusted_issuer go together; set both")
    if settings.auth_mode == "basic" and settings.auth_htpasswd is None:
        raise ConfigError("auth = basic needs auth_htpasswd; set it to an htpasswd file")
    if settings.auth_mode == "token" and not (settings.auth_htpasswd or settings.auth_trusted_keys):
        raise ConfigError(
            "auth = token needs an issuer; set auth_htpasswd (built-in) or auth_trusted_keys"
        )
    if settings.auth_mode == "token" and not (settings.auth_htpasswd or settings.auth_token_realm):
        raise ConfigError(
            "auth = token with only an external issuer needs auth_token_realm; set it"
            " to the issuer's token URL"
        )


def convert(name: str, value: Any) -> Any:
    """A value from a file, the environment or a flag, as the setting's type holds it."""
    spec, kind = SPECS[name], base_type(name)
    if spec.table:
        return _table(name, value, kind)
    if optional(name) and isinstance(value, str) and value.strip().lower() in ("", "none", "off"):
        return None
    if spec.duration:
        return parse_duration(value, name)
    if spec.choices:
        return _choice(name, value, spec.choices)
    if kind is bool:
        return _boolean(name, value)
    if kind is int:
        return _integer(name, value, spec)
    if kind is Path:
        return Path(value)
    return str(value)


def parse_duration(value: Any, name: str = "duration") -> float:
    """Seconds in `30s`, `90m`, `24h`, `7d`, `1h30m`, or a plain number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        parts = _DURATION.findall(text)
        if _SECONDS.fullmatch(text):
            seconds = float(text)
        elif parts and "".join(n + u for n, u in parts) == text:
            seconds = sum(float(n) * DURATION_UNITS[u] for n, u in parts)
        else:
            raise ConfigError(f"{name} must be a duration like 30s, 90m, 24h or 7d, got {value!r}")
    if seconds < 0 or not math.isfinite(seconds):
        raise ConfigError(f"{name} must not be negative")
    return seconds


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    by_case = {choice.lower(): choice for choice in choices}
    found = by_case.get(str(value).strip().lower())
    if found is None:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return found


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() not in BOOLEANS:
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return BOOLEANS[str(value).lower()]


def _integer(name: str, value: Any, spec: Spec) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) and not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    number = int(value)
    if number < 0:
        raise ConfigError(f"{name} must not be negative")
    low, high = spec.minimum or 0, spec.maximum
    if number < low or (high is not None and number > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{name} must be {bounds}, got {number}")
    return number


def _table(name: str, value: Any, kind: Any) -> Any:
    if kind is dict and isinstance(value, dict):
        return value
    if kind is tuple and isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return tuple(value)
    shape = "table" if kind is dict else "array of tables ([[" + name + "]])"
    raise ConfigError(f"{name} must be a TOML {shape}")


def shown(name: str, value: Any) -> Any:
    """A setting's value as the effective configuration shows it: secrets masked."""
    return masked(SPECS[name], value)


def masked(spec: Spec, value: Any) -> Any:
    """MASK for a secret setting that is set; a URL's password masked; paths as text;
    durations as written (30s)."""
    if value is None:
        return value
    if spec.secret:
        return MASK
    if spec.secret_keys and isinstance(value, tuple):
        return tuple(_masked_keys(entry, spec.secret_keys) for entry in value)
    if spec.duration:
        return duration_text(value)
    if isinstance(value, bool | int | float | dict | tuple):
        return value
    return _url_without_password(str(value))


def _masked_keys(entry: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: MASK if key in keys else value for key, value in entry.items()}


def duration_text(seconds: float) -> str:
    """A duration in the largest unit that writes it whole: 7d, 24h, 90m, 30s, 1.5s."""
    for unit, size in sorted(DURATION_UNITS.items(), key=lambda item: -item[1]):
        if seconds and seconds % size == 0:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:g}s"


def _url_without_password(text: str) -> str:
    if "://" not in text:
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def reference_table() -> str:
    """The settings table of docs/configuration.md (`python -m registry.config` prints it)."""
    rows = ["| setting | environment variable | meaning |", "|---|---|---|"]
    for name, spec in SPECS.items():
        rows.append(f"| `{name}` | `{env_name(name)}` | {spec.help} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(reference_table())
