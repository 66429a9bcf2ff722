"""The `artifact-store` command: one subcommand per module of registry/commands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from registry import config
from registry.commands import Command, events, migrate, serve

COMMANDS: list[Command] = [serve.COMMAND, migrate.COMMAND, events.COMMAND]

DESCRIPTION = """\
artifact-store: an OCI distribution registry.

Settings come from a TOML file (--config), then ARTIFACT_STORE_<NAME>
environment variables, then flags; later sources win."""


def package_version() -> str:
    try:
        return version("artifact-store")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="artifact-store",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=package_version())
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        sub = commands.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.arguments(sub)
        add_settings_flags(sub)
    return parser


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """A flag for every setting that is not a TOML table, and --config."""
    group = parser.add_argument_group("settings (also TOML keys and ARTIFACT_STORE_* variables)")
    for name, spec in config.SPECS.items():
        if spec.table:
            continue
        if config.base_type(name) is bool:
            group.add_argument(
                config.flag_name(name),
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=spec.help,
            )
        else:
            group.add_argument(config.flag_name(name), dest=name, metavar="VALUE", help=spec.help)
    group.add_argument("--config", type=Path, help="TOML file with any of the settings")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = config.load(args.config, os.environ, vars(args))
        command = next(c for c in COMMANDS if c.name == args.command)
        return command.run(args, settings)
    except config.ConfigError as exc:  # also a key or htpasswd file found unusable at start
        print(f"artifact-store: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
