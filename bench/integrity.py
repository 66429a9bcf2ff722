"""`python -m bench.integrity`: what integrity checks cost on this machine.

1. `verify` against the raw hash rates: a store of 2 GiB of blobs (by default) on
   the filesystem, scanned by the Scrubber `verify` runs, against one file of the
   same total hashed by a single BLAKE3 thread, by BLAKE3 with all cores, and by
   sha256 (what a sha256-keyed scrub would pay). All from the page cache.
2. The cost of `verify_reads` on pulls: curl GETs of one blob from a server
   with it off (zero-copy file sends) and on, in alternating pairs; and the
   same on Hypercorn, which streams through Python either way (the hashing's
   own cost).
3. The cost of the background scrub on the same pulls: a server scrubbing
   without pause (`scrub_interval` 1s, its blobs always due) against one not
   scrubbing.

Figures in MB/s (10^6 bytes); the machine's cores are shared, so compare the
figures of one run, never of different runs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import blake3
import httpx

from bench.clients import curl_get
from bench.servers import free_port
from storage.hashing import digests_of
from storage.store import Storage
from storage.verify import Scrubber

MIB = 1024 * 1024
MB = 1e6
ARTIFACT_STORE = str(Path(sys.executable).parent / "artifact-store")
REPO = "bench/integrity"


def hash_rate(path: Path, make: Callable[[], object], size: int) -> float:
    """MB/s of hashing the file in 8 MiB reads with the hasher `make` returns."""
    hasher = make()
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as handle:
        buffer = bytearray(8 * MIB)
        view = memoryview(buffer)
        while count := handle.readinto(buffer):
            hasher.update(view[:count])  # type: ignore[attr-defined]
    return size / (time.perf_counter() - started) / MB


async def fill_store(data_dir: Path, total: int, blob_size: int) -> Storage:
    storage = await Storage.open(data_dir)
    for _ in range(total // blob_size):
        data = os.urandom(blob_size)
        digests = digests_of(data)
        await storage.blobs.store_bytes(data, digests)
        async with storage.db.write() as conn:
            await storage.blobs.record(conn, REPO, digests, len(data))
    return storage


async def verify_against_raw(
    work: Path, total: int, blob_size: int, workers: int, rounds: int
) -> dict[str, float]:
    """The scan and the raw hashes in alternating rounds (the machine's load moves); the
    median of each. Everything is read once first, so all of it comes from the page cache."""
    storage = await fill_store(work / "store", total, blob_size)
    one_file = write_file(work / "one-file", total)
    measured: dict[str, list[float]] = {}
    try:
        await Scrubber(storage.blobs, workers=workers).run()
        for _ in range(rounds):
            for name, rate in raw_rates(one_file, total).items():
                measured.setdefault(name, []).append(rate)
            report = await Scrubber(storage.blobs, workers=workers).run()
            assert report.intact, report.as_json()
            measured.setdefault("verify_mb_s", []).append(report.bytes / report.seconds / MB)
    finally:
        await storage.close()
    figures = {name: sorted(rates)[len(rates) // 2] for name, rates in measured.items()}
    figures["verify_vs_blake3_1_thread"] = figures["verify_mb_s"] / figures["blake3_1_thread_mb_s"]
    return figures


def write_file(path: Path, total: int) -> Path:
    with open(path, "wb") as handle:
        for _ in range(total // (64 * MIB)):
            handle.write(os.urandom(64 * MIB))
    return path


def raw_rates(path: Path, total: int) -> dict[str, float]:
    return {
        "blake3_1_thread_mb_s": hash_rate(path, lambda: blake3.blake3(max_threads=1), total),
        "blake3_all_cores_mb_s": hash_rate(
            path, lambda: blake3.blake3(max_threads=blake3.blake3.AUTO), total
        ),
        "sha256_mb_s": hash_rate(path, hashlib.sha256, total),
    }


@contextmanager
def server(data_dir: Path, *options: str) -> Iterator[str]:
    host = f"127.0.0.1:{free_port()}"
    argv = [ARTIFACT_STORE, "serve", "--addr", host, "--data-dir", str(data_dir)]
    with open(data_dir.parent / f"{data_dir.name}.log", "ab") as log:
        process = subprocess.Popen(
            [*argv, "--log-level", "warning", *options], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait(f"http://{host}")
        yield f"http://{host}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"no server at {url}")


def push_blob(url: str, data: bytes) -> str:
    digest = digests_of(data)["sha256"]
    response = httpx.post(
        f"{url}/v2/{REPO}/blobs/uploads/?digest={digest}", content=data, timeout=300
    )
    response.raise_for_status()
    return f"{url}/v2/{REPO}/blobs/{digest}"


def pull_rate(url: str, size: int, pulls: int) -> float:
    started = time.perf_counter()
    for _ in range(pulls):
        curl_get(url, size)
    return size * pulls / (time.perf_counter() - started) / MB


def paired_pulls(
    work: Path,
    name: str,
    options: Sequence[str],
    size: int,
    pulls: int,
    rounds: int,
    both: Sequence[str] = (),
) -> dict[str, float]:
    """Pull MB/s of a server with `options` against one without (both with `both`), in
    alternating rounds."""
    data = os.urandom(size)
    base, other = work / f"{name}-off", work / f"{name}-on"
    common = ["--workers", "1", *both]
    with server(base, *common) as off, server(other, *common, *options) as on:
        urls = {"off": push_blob(off, data), "on": push_blob(on, data)}
        if "--scrub-interval" in options:
            push_blob(on, os.urandom(256 * MIB))  # something more to scrub the whole time
        rates: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(rounds):
            for key in ("off", "on"):
                rates[key].append(pull_rate(urls[key], size, pulls))
    off_rate, on_rate = (sorted(r)[len(r) // 2] for r in (rates["off"], rates["on"]))
    return {
        f"{name}_off_mb_s": off_rate,
        f"{name}_on_mb_s": on_rate,
        f"{name}_cost_percent": 100 * (1 - on_rate / off_rate),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.integrity", description=__doc__)
    parser.add_argument("--total-mib", type=int, default=2048, help="bytes of blobs to verify")
    parser.add_argument("--blob-mib", type=int, default=64, help="size of each blob")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pull-mib", type=int, default=256, help="size of the pulled blob")
    parser.add_argument("--pulls", type=int, default=4, help="pulls per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    total, blob = args.total_mib * MIB, args.blob_mib * MIB
    with tempfile.TemporaryDirectory(prefix="bench-integrity-") as tmp:
        work = Path(tmp)
        figures = asyncio.run(verify_against_raw(work, total, blob, args.workers, args.rounds))
        pull = args.pull_mib * MIB
        figures |= paired_pulls(
            work, "verify_reads", ["--verify-reads"], pull, args.pulls, args.rounds
        )
        figures |= paired_pulls(  # both streamed through Python: the hashing's own cost
            work,
            "verify_reads_streamed",
            ["--verify-reads"],
            pull,
            args.pulls,
            args.rounds,
            both=["--server", "hypercorn"],
        )
        figures |= paired_pulls(
            work, "scrub", ["--scrub-interval", "1s"], pull, args.pulls, args.rounds
        )
    print(json.dumps({k: round(v, 3) for k, v in figures.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
