"""From samples to figures: medians, spreads, paired ratios, targets; as Markdown and JSON.

Spread is half the min-max range over the rounds, as a percentage of the
median. A ratio is artifact-store's figure over a peer's, taken round by round
(the two ran back to back) and then the median of those.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.runner import Outcome, Plan, Sample
from bench.servers import REFERENCE, SUBJECT, Peer
from bench.workloads import Metric, Workload

DOCS_BEGIN = "<!-- bench:begin -->"
DOCS_END = "<!-- bench:end -->"
CPU_SHARING = (
    "No CPU pinning: each server and its load generator share the same 2 cores. "
    "wrk runs one thread with 32 keep-alive connections; curl is one process per stream "
    "(16 at once for fan-out); small-blobs is 16 httpx async clients of one connection each "
    "on one uvloop event loop in the harness process; push-chunked is a synchronous httpx "
    "client; manifest-head is oha with one runtime thread; image-copy is "
    "skopeo. The CPU table gives the cores each side used (CPU seconds over wall seconds)."
)


def _measured(samples: list[Sample]) -> list[Sample]:
    return [s for s in samples if s.round >= 1 and s.error is None]


def _values(samples: list[Sample], workload: str, metric: str, server: str) -> list[float]:
    return [
        s.figures[metric]
        for s in samples
        if s.workload == workload and s.server == server and metric in s.figures
    ]


def stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    median = statistics.median(values)
    spread = (max(values) - min(values)) / 2 / median * 100 if median else 0.0
    return {
        "median": median,
        "min": min(values),
        "max": max(values),
        "spread_pct": spread,
        "n": len(values),
    }


def paired_ratio(samples: list[Sample], workload: str, metric: str, peer: str) -> float | None:
    """Median over rounds of artifact-store's figure divided by the peer's in the same round."""
    by_key = {
        (s.round, s.server): s.figures[metric]
        for s in samples
        if s.workload == workload and metric in s.figures
    }
    rounds = sorted({r for r, _ in by_key})
    ratios = [
        by_key[(r, SUBJECT)] / by_key[(r, peer)]
        for r in rounds
        if (r, SUBJECT) in by_key and by_key.get((r, peer))
    ]
    return statistics.median(ratios) if ratios else None


def summarize(samples: list[Sample], workloads: tuple[Workload, ...], keys: list[str]) -> Any:
    measured = _measured(samples)
    return {
        w.name: {
            m.name: {key: stats(_values(measured, w.name, m.name, key)) for key in keys}
            for m in w.metrics
        }
        for w in workloads
    }


def ratios(samples: list[Sample], workloads: tuple[Workload, ...], peers: list[Peer]) -> Any:
    """Per peer, over the workloads it runs."""
    measured = _measured(samples)
    return {
        peer.key: {
            w.name: {m.name: paired_ratio(measured, w.name, m.name, peer.key) for m in w.metrics}
            for w in workloads
            if peer.runs(w.name)
        }
        for peer in peers
        if peer.key != SUBJECT
    }


def target_text(metric: Metric) -> str:
    if metric.limit is not None:
        return f"<= {metric.limit:g} MiB"
    assert metric.target is not None
    return f"{'>=' if metric.higher_is_better else '<='} {metric.target:.1f}x"


def targets(summary: Any, ratio_table: Any, workloads: tuple[Workload, ...]) -> list[Any]:
    rows = []
    for w in workloads:
        for m in w.metrics:
            if m.target is None and m.limit is None:
                continue
            rows.append(_target_row(w.name, m, summary, ratio_table))
    return rows


def _target_row(workload: str, metric: Metric, summary: Any, ratio_table: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"workload": workload, "metric": metric.name}
    row["target"] = target_text(metric)
    row["ratios"] = {
        peer: table[workload][metric.name]
        for peer, table in ratio_table.items()
        if workload in table
    }
    own = summary[workload][metric.name].get(SUBJECT)
    ratio = row["ratios"].get(REFERENCE)
    if metric.limit is not None:
        row["value"] = own["max"] if own else None  # the worst round must stay under
        row["met"] = None if own is None else own["max"] <= metric.limit
    else:
        row["value"] = own["median"] if own else None
        row["met"] = None if ratio is None else _reaches(metric, ratio)
    return row


def _reaches(metric: Metric, ratio: float) -> bool:
    assert metric.target is not None
    return ratio >= metric.target if metric.higher_is_better else ratio <= metric.target


def machine(work_hint: Path | None) -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "filesystem": _filesystem(work_hint or Path(os.environ.get("TMPDIR", "/tmp"))),
        "loadavg_at_start": list(os.getloadavg()),
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor()


def _os_name() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip('"')
    return platform.system()


def _filesystem(path: Path) -> str:
    path = path.resolve()
    best = ("", "?", "?")
    for line in Path("/proc/mounts").read_text().splitlines():
        device, mount, kind = line.split()[:3]
        if path.is_relative_to(mount) and len(mount) > len(best[0]):
            best = (mount, kind, device)
    return f"{best[1]} on {best[2]}"


def build(plan: Plan, outcome: Outcome, mode: str) -> dict[str, Any]:
    present = [p for p in plan.peers if p.key not in outcome.missing]
    keys = [p.key for p in present]
    summary = summarize(outcome.samples, plan.workloads, keys)
    ratio_table = ratios(outcome.samples, plan.workloads, present)
    started = datetime.datetime.fromtimestamp(outcome.started, datetime.UTC)
    return {
        "schema": 1,
        "mode": mode,
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(outcome.finished - outcome.started, 1),
        "machine": {**machine(plan.work_parent), "loadavg_at_end": list(os.getloadavg())},
        "settings": {"rounds": plan.rounds, "warmup": plan.warmup, "sizes": asdict(plan.sizes)},
        "cpu_sharing": CPU_SHARING,
        "servers": [p.key for p in present if p.workers is None],
        "scaling": {p.key: p.workers for p in present if p.workers is not None},
        "reference": REFERENCE,
        "profiled": plan.profiler is not None,
        **outcome.as_json(),
        "summary": summary,
        "ratios": ratio_table,
        "targets": targets(summary, ratio_table, plan.workloads),
        "cpu": _cpu_table(outcome.samples, plan.workloads, keys),
        "errors": [asdict(s) for s in outcome.samples if s.error],
    }


def _cpu_table(samples: list[Sample], workloads: tuple[Workload, ...], keys: list[str]) -> Any:
    measured = [s for s in _measured(samples) if s.wall_s > 0]
    table: dict[str, dict[str, Any]] = {}
    for w in workloads:
        table[w.name] = {}
        for key in keys:
            mine = [s for s in measured if s.workload == w.name and s.server == key]
            table[w.name][key] = (
                {
                    "server_cores": statistics.median([s.server_cpu_s / s.wall_s for s in mine]),
                    "client_cores": statistics.median([s.client_cpu_s / s.wall_s for s in mine]),
                }
                if mine
                else None
            )
    return table


# --- rendering ----------------------------------------------------------------------------


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def markdown(result: dict[str, Any], workloads: tuple[Workload, ...]) -> str:
    return "\n\n".join(
        [
            _header(result),
            _figures_table(result, workloads),
            _targets_table(result),
            _cpu_markdown(result, workloads),
            *([_scaling_markdown(result, workloads)] if result["scaling"] else []),
        ]
    )


def _header(result: dict[str, Any]) -> str:
    m = result["machine"]
    servers = "; ".join(f"{key} ({version})" for key, version in result["versions"].items())
    return (
        f"Run of {result['started']} ({result['mode']}, {result['settings']['rounds']} round(s)"
        f"{' after a warm-up' if result['settings']['warmup'] else ''}, "
        f"{result['duration_s'] / 60:.1f} min). Machine: {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB, {m['os']}, Linux {m['kernel']}, data on {m['filesystem']}, "
        f"load average {m['loadavg_at_start'][0]:.2f} at start and "
        f"{m['loadavg_at_end'][0]:.2f} at end. Servers: {servers}."
    )


def _figures_table(result: dict[str, Any], workloads: tuple[Workload, ...]) -> str:
    keys = result["servers"]
    lines = [
        "| workload | figure | " + " | ".join(keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for w in workloads:
        for m in w.metrics:
            cells = [_cell(result, w.name, m.name, key) for key in keys]
            arrow = "↑" if m.higher_is_better else "↓"
            lines.append(f"| {w.name} | {m.name} {arrow} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Median ± spread over the rounds; (r x): median ratio to "
        f"{result['reference']} in the same rounds. ↑ more is better, ↓ less is better."
    )
    return "\n".join(lines)


def _cell(result: dict[str, Any], workload: str, metric: str, key: str) -> str:
    found = result["summary"][workload][metric].get(key)
    if found is None:
        return "ERR"
    text = f"{number(found['median'])} ±{found['spread_pct']:.0f}%"
    if key != result["reference"]:
        ratio = _ratio_to_reference(result, workload, metric, key)
        if ratio is not None:
            text += f" ({ratio:.2f}x)"
    return text


def _ratio_to_reference(result: dict[str, Any], workload: str, metric: str, key: str) -> Any:
    reference = result["reference"]
    if key == SUBJECT:
        return result["ratios"].get(reference, {}).get(workload, {}).get(metric)
    mine = result["summary"][workload][metric].get(key)
    theirs = result["summary"][workload][metric].get(reference)
    if not mine or not theirs or not theirs["median"]:
        return None
    return mine["median"] / theirs["median"]


def _targets_table(result: dict[str, Any]) -> str:
    peers = [key for key in result["servers"] if key != SUBJECT]
    lines = [
        "| artifact-store | target | value | " + " | ".join(f"vs {p}" for p in peers) + " | met |",
        "|---|---|---|" + "---|" * (len(peers) + 1),
    ]
    for row in result["targets"]:
        value = number(row["value"])
        if row["target"].endswith("MiB"):
            value = f"max {value}"
        cells = [value] + [_times(row["ratios"].get(p)) for p in peers]
        met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
        name = f"{row['workload']} {row['metric']}"
        lines.append(f"| {name} | {row['target']} | " + " | ".join(cells) + f" | {met} |")
    lines.append("")
    lines.append(
        f"Targets are judged against {result['reference']}; memory on the worst round. "
        "Ratios are artifact-store over the peer, paired round by round."
    )
    return "\n".join(lines)


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def _cpu_markdown(result: dict[str, Any], workloads: tuple[Workload, ...]) -> str:
    keys = result["servers"]
    lines = [
        "Cores used, server / client (median over the rounds):",
        "",
        "| workload | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for w in workloads:
        cells = []
        for key in keys:
            used = result["cpu"][w.name].get(key)
            cells.append(
                "-" if used is None else f"{used['server_cores']:.2f} / {used['client_cores']:.2f}"
            )
        lines.append(f"| {w.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _scaling_markdown(result: dict[str, Any], workloads: tuple[Workload, ...]) -> str:
    """The first figure of each workload the worker columns ran, with the server's cores."""
    scaling: dict[str, int] = result["scaling"]
    lines = [
        f"{SUBJECT} with 1, 2 and 4 worker processes (figure, then the cores the server used):",
        "",
        "| workload | figure | " + " | ".join(f"{n} worker(s)" for n in scaling.values()) + " |",
        "|---|---|" + "---|" * len(scaling),
    ]
    for w in workloads:
        if w.name not in result["summary"] or not _ran_scaling(result, w.name):
            continue
        metric = w.metrics[0]
        cells = [_scaling_cell(result, w.name, metric.name, key) for key in scaling]
        lines.append(f"| {w.name} | {metric.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ran_scaling(result: dict[str, Any], workload: str) -> bool:
    return any(result["cpu"][workload].get(key) for key in result["scaling"])


def _scaling_cell(result: dict[str, Any], workload: str, metric: str, key: str) -> str:
    found = result["summary"][workload][metric].get(key)
    used = result["cpu"][workload].get(key)
    if found is None or used is None:
        return "ERR"
    return f"{number(found['median'])} ±{found['spread_pct']:.0f}% ({used['server_cores']:.2f})"


# --- files --------------------------------------------------------------------------------


def write_json(result: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = result["started"].replace(":", "").replace("+0000", "Z")
    path = directory / f"{stamp}-{result['mode']}.json"
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(result, indent=1) + "\n")
    temp.replace(path)
    return path


def update_docs(doc: Path, text: str) -> None:
    """Replace what stands between the bench markers of the page with `text`."""
    page = doc.read_text()
    head, begin, rest = page.partition(DOCS_BEGIN)
    _, end, tail = rest.partition(DOCS_END)
    if not begin or not end:
        raise ValueError(f"{doc} has no {DOCS_BEGIN} ... {DOCS_END} section")
    doc.write_text(f"{head}{DOCS_BEGIN}\n{text}\n{DOCS_END}{tail}")


def write_latest(result: dict[str, Any], directory: Path) -> Path:
    """latest.json: the run the docs show, kept in the repository."""
    path = directory / "latest.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path
