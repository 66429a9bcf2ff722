"""The `artifact-store` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from registry import config

DESCRIPTION = """\
artifact-store: an OCI distribution registry.

Settings come from a TOML file (--config), then ARTIFACT_STORE_<NAME>
environment variables, then flags; later sources win."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="artifact-store",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the /v2/ API",
        description=_serve_description(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--addr", help=config.DESCRIPTIONS["addr"])
    serve.add_argument("--data-dir", type=Path, help=config.DESCRIPTIONS["data_dir"])
    serve.add_argument("--metadata-url", help=config.DESCRIPTIONS["metadata_url"])
    serve.add_argument("--log-level", help=config.DESCRIPTIONS["log_level"])
    _add_storage_flags(serve)
    _add_security_flags(serve)
    serve.add_argument("--config", type=Path, help="TOML file with any of the settings above")
    _add_migrate(commands)
    return parser


def _add_migrate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = commands.add_parser(
        "migrate",
        help="bring the metadata database schema up to date, then exit",
        description="Apply the metadata database migrations (serve also does on start).",
    )
    migrate.add_argument("--data-dir", type=Path, help=config.DESCRIPTIONS["data_dir"])
    migrate.add_argument("--metadata-url", help=config.DESCRIPTIONS["metadata_url"])
    migrate.add_argument("--config", type=Path, help="TOML file with the settings")


def _migrate(settings: config.Settings) -> int:
    from storage.database import default_url, display_url, migrate_url
    from storage.errors import Unavailable

    url = settings.metadata_url or default_url(Path(settings.data_dir))
    try:
        revision = asyncio.run(migrate_url(url, Path(settings.data_dir)))
    except Unavailable as exc:
        print(f"artifact-store: {exc.detail}: {display_url(url)}", file=sys.stderr)
        return 1
    print(f"metadata database {display_url(url)} is at revision {revision}")
    return 0


def _add_storage_flags(serve: argparse.ArgumentParser) -> None:
    for name in ("storage", "s3_bucket", "s3_endpoint_url", "s3_region", "s3_prefix"):
        serve.add_argument("--" + name.replace("_", "-"), help=config.DESCRIPTIONS[name])
    serve.add_argument("--s3-part-size", type=int, help=config.DESCRIPTIONS["s3_part_size"])
    serve.add_argument(
        "--s3-redirect",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=config.DESCRIPTIONS["s3_redirect"],
    )


def _add_security_flags(serve: argparse.ArgumentParser) -> None:
    for name in ("tls_cert", "tls_key", "auth_htpasswd"):
        serve.add_argument("--" + name.replace("_", "-"), type=Path, help=config.DESCRIPTIONS[name])
    serve.add_argument("--auth", choices=config.AUTH_MODES, help=config.DESCRIPTIONS["auth"])


def _serve_description() -> str:
    lines = ["Serve the registry. Settings (TOML key / environment variable):", ""]
    width = max(map(len, config.DESCRIPTIONS))
    for name, text in config.DESCRIPTIONS.items():
        env = config.ENV_PREFIX + name.upper()
        lines.append(f"  {name:{width}} {env:{width + len(config.ENV_PREFIX)}} {text}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = config.load(args.config, os.environ, vars(args))
    except config.ConfigError as exc:
        print(f"artifact-store: {exc}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        return _migrate(settings)
    from registry.server import serve

    try:
        return serve(settings)
    except config.ConfigError as exc:  # a key or htpasswd file found unusable at start
        print(f"artifact-store: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
