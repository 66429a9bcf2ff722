"""The progress line: what it says, when it redraws, and that only a terminal gets it."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from registry.terminal_progress import Stage, TerminalProgress, progress_for, progress_line
from storage.database import revisions
from storage.progress import SILENT
from tests.registry import cli_process

MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("stage", "now", "final", "line"),
    [
        pytest.param(Stage("gc", None, None, 0.0), 0.0, False, "gc: 0 items", id="nothing-yet"),
        pytest.param(
            Stage("verify", None, None, 0.0, 40, 8 * MiB),
            4.0,
            False,
            "verify: 40 items, 8.0 MiB, 2.0 MiB/s",
            id="no-totals-no-eta",
        ),
        pytest.param(
            Stage("verify", 100, 40 * MiB, 0.0, 25, 10 * MiB),
            5.0,
            False,
            "verify: 25/100 items (25%), 10.0 MiB/40.0 MiB, 2.0 MiB/s, ETA 15s",
            id="eta-from-bytes",
        ),
        pytest.param(
            Stage("migrations", 4, None, 0.0, 1),
            2.0,
            False,
            "migrations: 1/4 items (25%), 0.5 items/s, ETA 6s",
            id="eta-from-items",
        ),
        pytest.param(
            Stage("gc", 4, None, 10.0, 4),
            75.0,
            True,
            "gc: 4/4 items (100%), 0.1 items/s, took 1m05s",
            id="final",
        ),
    ],
)
def test_the_line(stage: Stage, now: float, final: bool, line: str) -> None:
    assert progress_line(stage, now, final) == line


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_redraws_in_place_at_most_ten_times_a_second_and_ends_the_line() -> None:
    out, clock = io.StringIO(), Clock()
    progress = TerminalProgress(out, clock)
    progress.begin("usage", items=1000)
    for _ in range(50):  # all within the same instant: counted, not drawn
        progress.advance()
    clock.now += 0.5
    progress.advance(size=MiB)
    progress.end()
    text = out.getvalue()
    assert text.count("\r") == 3  # begin, one redraw, the final state
    assert text.endswith("usage: 51/1000 items (5%), 1.0 MiB, 2.0 MiB/s, took 0s\x1b[K\n")


def test_a_new_stage_ends_the_line_of_the_previous_one() -> None:
    out = io.StringIO()
    progress = TerminalProgress(out, Clock())
    progress.begin("mark")
    progress.begin("sweep")
    progress.end()
    assert out.getvalue().count("\n") == 2
    assert "mark: 0 items" in out.getvalue() and "sweep: 0 items" in out.getvalue()


def test_silent_unless_both_outputs_are_terminals_and_not_json() -> None:
    assert progress_for(json_output=True) is SILENT
    assert progress_for() is SILENT  # under pytest, stdout and stderr are captured


def in_terminal(*args: str, timeout: float = 60) -> str:
    """Run `artifact-store ARGS` with a pseudo-terminal as stdin, stdout and stderr."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [cli_process.executable(), *args], stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while select.select([leader], [], [], max(deadline - time.monotonic(), 0))[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process closed its end of the terminal
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=10) == 0, output.decode(errors="replace")
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
            process.wait()
    return output.decode()


def test_migrate_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    output = in_terminal("migrate", "--data-dir", str(tmp_path / "data"))
    chain = revisions()
    assert f"\rmigrations: 0/{len(chain)} items (0%)" in output
    assert f"migrations: {len(chain)}/{len(chain)} items (100%)" in output and "took" in output
    assert output.rstrip().endswith(f"is at revision {chain[-1]}")


def test_migrate_prints_only_its_result_elsewhere(tmp_path: Path) -> None:
    piped = cli_process.run("migrate", "--data-dir", str(tmp_path / "data"))
    assert (piped.returncode, piped.stderr) == (0, "")
    assert piped.stdout.splitlines() == [
        f"metadata database sqlite:///{tmp_path}/data/metadata.db is at revision {revisions()[-1]}"
    ]
    as_json = in_terminal("migrate", "--json", "--data-dir", str(tmp_path / "again"))
    assert "\r" not in as_json.replace("\r\n", "\n")
    assert json.loads(as_json)["revision"] == revisions()[-1]
