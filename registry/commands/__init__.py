"""The subcommands of `artifact-store`, one module each; cli.py lists them.

Every command reads the same settings (file, environment, flags) as `serve`,
so pointing `gc` or `migrate` at a registry takes the flags that serve it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field

from registry.config import Settings


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[argparse.Namespace, Settings], int]
    description: str | None = None
    arguments: Callable[[argparse.ArgumentParser], None] = field(default=_no_arguments)
