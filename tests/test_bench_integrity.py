"""A smoke run of bench/integrity.py (tiny sizes, one round) so it keeps working: every
figure present and positive; how fast anything was is not checked."""

from __future__ import annotations

import json
import subprocess
import sys

FIGURES = {
    "blake3_1_thread_mb_s",
    "blake3_all_cores_mb_s",
    "sha256_mb_s",
    "verify_mb_s",
    "verify_vs_blake3_1_thread",
    "verify_reads_off_mb_s",
    "verify_reads_on_mb_s",
    "verify_reads_cost_percent",
    "verify_reads_streamed_off_mb_s",
    "verify_reads_streamed_on_mb_s",
    "verify_reads_streamed_cost_percent",
    "scrub_off_mb_s",
    "scrub_on_mb_s",
    "scrub_cost_percent",
}


def test_integrity_bench_smoke() -> None:
    tiny = ["--total-mib", "64", "--blob-mib", "16", "--pull-mib", "8", "--pulls", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "bench.integrity", *tiny, "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures) == FIGURES
    assert all(figures[name] > 0 for name in FIGURES if not name.endswith("_percent"))
