"""`artifact-store check`: would `serve` start and serve with these settings?

Prints the effective configuration, each value with the source it came from
(secrets masked), then runs every start-up check (none stopping the others):
the address, the data directory, TLS and authentication files, a probe object
written and deleted in the object store, the metadata database reached in a
read-only transaction and its schema revision (nothing is migrated). Exits 0
only if every check passes; otherwise with the status serve would (2: the
configuration, 1: the machine).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from registry import config
from registry.commands import Command
from registry.preflight import Finding
from registry.version import package_version

VALUE_COLUMN = 40  # longer values push their source further right


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace, settings: config.Settings) -> int:
    from registry.preflight import inspect

    sources = config.load_with_sources(args.config, os.environ, vars(args)).sources
    findings = inspect(settings)
    if args.json:
        print(json.dumps(report(settings, sources, findings), indent=2))
    else:
        print(text(settings, sources, findings))
    return max((f.error.status for f in findings if f.error is not None), default=0)


def effective(settings: config.Settings, sources: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each setting's value as shown (secrets masked) and where it came from."""
    return {
        name: {"value": config.shown(name, getattr(settings, name)), "source": sources[name]}
        for name in config.FIELDS
    }


def report(
    settings: config.Settings, sources: dict[str, str], findings: list[Finding]
) -> dict[str, Any]:
    return {
        "version": package_version(),
        "ok": all(f.ok for f in findings),
        "settings": effective(settings, sources),
        "checks": [{"name": f.name, "ok": f.ok, "detail": f.detail} for f in findings],
    }


def text(settings: config.Settings, sources: dict[str, str], findings: list[Finding]) -> str:
    shown = {
        name: (_value(e["value"]), e["source"]) for name, e in effective(settings, sources).items()
    }
    width = max(map(len, shown))
    column = min(max(len(value) for value, _ in shown.values()), VALUE_COLUMN)
    lines = [f"artifact-store {package_version()}", "", "settings (value, source):"]
    for name, (value, source) in shown.items():
        lines.append(f"  {name:{width}}  {value:{column}}  {source}")
    lines += ["", "checks:"]
    for finding in findings:
        lines.append(f"  {'ok' if finding.ok else 'FAIL':4}  {finding.name:8}  {finding.detail}")
    failed = [f.name for f in findings if not f.ok]
    verdict = f"serve would fail: {', '.join(failed)}" if failed else "serve would start"
    return "\n".join([*lines, "", verdict])


def _value(value: Any) -> str:
    if value is None:
        return "(unset)"
    if value == "":
        return '""'
    if isinstance(value, dict | tuple | list):
        return json.dumps(value)
    return str(value)


COMMAND = Command(
    "check",
    "check the settings and everything serve needs, then exit (0: serve would start)",
    run,
    __doc__,
    arguments,
)
