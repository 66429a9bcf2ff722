"""The `artifact-store` command."""

from __future__ import annotations

import argparse
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
    serve.add_argument("--config", type=Path, help="TOML file with any of the settings above")
    return parser


def _serve_description() -> str:
    lines = ["Serve the registry. Settings (TOML key / environment variable):", ""]
    for name, text in config.DESCRIPTIONS.items():
        lines.append(f"  {name:13} {config.ENV_PREFIX}{name.upper():14} {text}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = config.load(args.config, os.environ, vars(args))
    except config.ConfigError as exc:
        print(f"artifact-store: {exc}", file=sys.stderr)
        return 2
    from registry.server import serve

    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
