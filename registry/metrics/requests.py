"""Request metrics: counts by method, route and status; a duration histogram; bytes in
and out by method and route.

A request adds to plain counters in this process's RequestTally (a microsecond or
so; prometheus_client's own metrics cost several times that per request, too much
for the manifest GET path). RequestCollector shows them to Prometheus. With several
processes, each writes its tally to the run's metrics directory about once a second
(`requests_<pid>.json`) and the collector adds up every process's file, like
prometheus_client does for its own counters: a worker that exits keeps its counts.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

# Upper bounds in seconds: manifest and tag reads take around a millisecond, blob
# transfers up to minutes.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_SUM, _RECEIVED, _SENT = len(BUCKETS) + 1, len(BUCKETS) + 2, len(BUCKETS) + 3
PREFIX = "artifact_store_http_"


class RequestTally:
    """This process's request counters since it started."""

    def __init__(self) -> None:
        # (method, route, status) -> [requests per duration bucket (the last one +Inf),
        # sum of seconds, bytes in, bytes out]
        self.counts: dict[tuple[str, str, int], list[float]] = {}
        self.changed = False

    def observe(
        self, method: str, route: str, status: int, seconds: float, received: int, sent: int
    ) -> None:
        counts = self.counts.get((method, route, status))
        if counts is None:
            counts = self.counts[(method, route, status)] = [0] * (len(BUCKETS) + 4)
        counts[bisect_left(BUCKETS, seconds)] += 1
        counts[_SUM] += seconds
        counts[_RECEIVED] += received
        counts[_SENT] += sent
        self.changed = True

    def snapshot(self) -> list[list[Any]]:
        """The counts as they stand; list() copies a dict in one step under the GIL, so
        another thread may take a snapshot while requests add to the tally."""
        return [[*key, list(counts)] for key, counts in list(self.counts.items())]

    def save(self, directory: Path) -> None:
        """Write this process's counts for the collectors; atomic, so none reads half."""
        if not self.changed:
            return
        self.changed = False
        target = directory / f"requests_{os.getpid()}.json"
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.snapshot()))
        os.replace(temporary, target)


TALLY = RequestTally()


class RequestCollector(Collector):
    """The tallies every process of the run saved in `directory`, or this process's."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        requests: dict[tuple[str, str, str], float] = {}
        routes: dict[tuple[str, str], list[float]] = {}
        for snapshot in self._snapshots():
            for method, route, status, counts in snapshot:
                key = (method, route, str(status))
                requests[key] = requests.get(key, 0) + sum(counts[:_SUM])
                known = routes.get((method, route), [0.0] * len(counts))
                routes[(method, route)] = [a + b for a, b in zip(known, counts, strict=True)]
        return _families(requests, routes)

    def _snapshots(self) -> Iterator[list[list[Any]]]:
        if self.directory is None:
            yield TALLY.snapshot()
            return
        for path in sorted(self.directory.glob("requests_*.json")):
            yield from _read(path)


def _read(path: Path) -> Iterator[list[list[Any]]]:
    try:
        yield json.loads(path.read_text())
    except (OSError, ValueError):  # removed or replaced while read: counted next scrape
        return


def _families(
    requests: dict[tuple[str, str, str], float], routes: dict[tuple[str, str], list[float]]
) -> list[Metric]:
    labels = ["method", "route"]
    total = CounterMetricFamily(
        PREFIX + "requests", "HTTP requests answered", labels=[*labels, "status"]
    )
    for key, n in sorted(requests.items()):
        total.add_metric(list(key), n)
    durations = HistogramMetricFamily(
        PREFIX + "request_duration_seconds", "Time to answer a request", labels=labels
    )
    received = CounterMetricFamily(PREFIX + "received_bytes", "Request body bytes", labels=labels)
    sent = CounterMetricFamily(PREFIX + "sent_bytes", "Response body bytes", labels=labels)
    for (method, route), counts in sorted(routes.items()):
        durations.add_metric([method, route], _cumulative(counts), counts[_SUM])
        received.add_metric([method, route], counts[_RECEIVED])
        sent.add_metric([method, route], counts[_SENT])
    return [total, durations, received, sent]


def _cumulative(counts: list[float]) -> list[tuple[str, float]]:
    bounds = [*(str(float(b)) for b in BUCKETS), "+Inf"]
    running, buckets = 0.0, []
    for bound, n in zip(bounds, counts, strict=False):
        running += n
        buckets.append((bound, running))
    return buckets
