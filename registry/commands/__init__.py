"""The subcommands of `artifact-store`, one module each; cli.py lists them.

Every command reads the same settings (file, environment, flags) as `serve`,
so pointing `gc` or `migrate` at a registry takes the flags that serve it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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


def no_registry(settings: Settings) -> bool:
    """True, said on stderr, when the settings name an embedded registry that is not there:
    a mistyped --data-dir must not become a new, empty store that a command reports on."""
    if settings.metadata_url is None and not (Path(settings.data_dir) / "metadata.db").exists():
        print(f"artifact-store: no registry in {settings.data_dir}", file=sys.stderr)
        return True
    return False
