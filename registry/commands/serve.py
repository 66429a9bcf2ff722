"""`artifact-store serve`: the /v2/ API until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse

from registry import config
from registry.commands import Command


def run(args: argparse.Namespace, settings: config.Settings) -> int:
    from registry.metrics import multiprocess

    # Before anything imports prometheus_client: the metrics of this run, in every process.
    directory = multiprocess.prepare()
    from registry.server import serve  # the server's imports only for the command that serves

    try:
        return serve(settings)
    finally:
        if directory is not None:
            multiprocess.remove(directory)


def description() -> str:
    lines = ["Serve the registry. Settings (TOML key / environment variable):", ""]
    width = max(map(len, config.DESCRIPTIONS))
    for name, text in config.DESCRIPTIONS.items():
        env = config.env_name(name)
        lines.append(f"  {name:{width}} {env:{width + len(config.ENV_PREFIX)}} {text}")
    return "\n".join(lines)


COMMAND = Command("serve", "serve the /v2/ API", run, description())
