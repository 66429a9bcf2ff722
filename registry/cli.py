"""The `artifact-store` command: one subcommand per module of registry/commands."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from registry import config
from registry.commands import (
    Command,
    check,
    events,
    gc,
    migrate,
    retention,
    serve,
    usage,
    verify,
)
from registry.preflight import CONFIGURATION, StartupError
from registry.version import package_version

COMMANDS: list[Command] = [
    serve.COMMAND,
    check.COMMAND,
    migrate.COMMAND,
    events.COMMAND,
    gc.COMMAND,
    usage.COMMAND,
    retention.COMMAND,
    verify.COMMAND,
]

INTERRUPTED = 130  # the shell's status for a command ended by SIGINT

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
    except config.ConfigError as exc:
        return _failed(exc, CONFIGURATION)
    command = next(c for c in COMMANDS if c.name == args.command)
    try:
        return command.run(args, settings)
    except config.ConfigError as exc:  # a key or htpasswd file found unusable at start
        return _failed(exc, CONFIGURATION, settings.log_level == "debug")
    except StartupError as exc:
        return _failed(exc, exc.status, settings.log_level == "debug")
    except KeyboardInterrupt:  # Ctrl-C while starting (waiting for the database, say)
        return INTERRUPTED


def _failed(exc: Exception, status: int, debug: bool = False) -> int:
    """One line on stderr; the traceback before it only at log level debug."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"artifact-store: {exc}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
