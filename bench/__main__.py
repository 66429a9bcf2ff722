"""`python -m bench`: run the benchmarks, print the table, write the JSON (see bench/__init__)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import profiling, report
from bench.runner import Plan, execute, say
from bench.servers import PEERS, TOOLS_BIN
from bench.workloads import FULL, SMOKE, WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
FULL_ROUNDS = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    names = [w.name for w in WORKLOADS]
    peers = [p.key for p in PEERS]
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round, no warm-up")
    parser.add_argument("--rounds", type=int, help=f"measured rounds (default {FULL_ROUNDS})")
    parser.add_argument("--no-warmup", action="store_true", help="skip the warm-up round")
    parser.add_argument("--workload", action="append", choices=names, help="only these")
    parser.add_argument("--server", action="append", choices=peers, help="only these")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON")
    parser.add_argument("--work-dir", type=Path, help="parent of the fresh work directory")
    parser.add_argument("--keep-work", action="store_true", help="keep data and server logs")
    parser.add_argument(
        "--update-docs", action="store_true", help=f"write the table into {DOCS.name}"
    )
    parser.add_argument("--profile", type=Path, help="py-spy artifact-store into this directory")
    return parser


def plan_from(args: argparse.Namespace) -> Plan:
    chosen = set(args.workload or [w.name for w in WORKLOADS])
    servers = set(args.server or [p.key for p in PEERS])
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    return Plan(
        sizes=SMOKE if args.smoke else FULL,
        rounds=args.rounds or (1 if args.smoke else FULL_ROUNDS),
        warmup=not (args.smoke or args.no_warmup),
        workloads=tuple(w for w in WORKLOADS if w.name in chosen),
        peers=tuple(p for p in PEERS if p.key in servers),
        work_parent=args.work_dir,
        keep_work=args.keep_work,
        profiler=profiling.py_spy if args.profile else None,
        profile_dir=args.profile,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ["PATH"] = f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}"  # peers, oha
    plan = plan_from(args)
    outcome = execute(plan)
    result = report.build(plan, outcome, "smoke" if args.smoke else "full")
    text = report.markdown(result, plan.workloads)
    print(text)
    path = report.write_json(result, args.out)
    say(f"results in {path}")
    if args.update_docs and not args.profile:
        report.write_latest(result, args.out)
        report.update_docs(DOCS, text)
        say(f"table written into {DOCS}")
    if args.profile:
        summary = profiling.summarize_files(sorted(args.profile.glob("*.txt")))
        (args.profile / "summary.txt").write_text(summary + "\n")
        say(f"profiles and summary.txt in {args.profile}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
