"""Run the OCI distribution-spec conformance suites and count their results.

Shared by ``conformance/run.sh`` (which just runs this file) and
``tests/test_conformance.py``.  Standard library only, so it runs with any python3.

Two suites, both built by ``conformance/build.sh`` into ``$TOOLS_DIR/bin``:

released  the ginkgo suite of distribution-spec v1.1.1 (``go test -c``), or the
          newest pre-rewrite version the module proxy serves; all four workflows
          (pull, push, content discovery incl. referrers, content management),
          ``OCI_AUTOMATIC_CROSSMOUNT`` unset.
latest    the rewritten suite (``package main``) at the module's @latest, with its
          full default data set and ``OCI_VERSION=dev`` (which also turns on upload
          cancel, Docker-Content-Digest header checks and tag parameters).

Usage: python3 conformance/suites.py [URL] [--suite NAME]... [--verbose]

Without URL, a fresh ``artifact-store serve`` (free port, fresh temporary data
directory) is started for each suite.  Reports go to conformance/results/<suite>/
(junit.xml, report.html, output.log, failures.txt).  Exit status is non-zero if any
spec failed, or if a suite binary is missing under CI=true.

Environment: TOOLS_DIR (default ~/.cache/artifact-store; binaries in its bin/),
CONFORMANCE_TIMEOUT (seconds per suite, default 1200), CI.  Inherited OCI_* variables
are dropped: each suite gets exactly the variables set in released_env()/latest_env(),
except OCI_USERNAME and OCI_PASSWORD: when both are set they are passed to both suites
(for a registry with authentication; env.txt records the user name, never the password).
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "conformance" / "results"
# the pseudo-version of tag v1.1.1 (kept in step with build.sh)
RELEASED_PINNED = "v0.0.0-20250123160558-a139cc423184"
SUITE_TIMEOUT = float(os.environ.get("CONFORMANCE_TIMEOUT", "1200"))


def tools_bin() -> Path:
    tools = os.environ.get("TOOLS_DIR") or str(Path.home() / ".cache" / "artifact-store")
    return Path(tools) / "bin"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


# --------------------------------------------------------------------------- suites


@dataclass(frozen=True)
class Target:
    """Where the registry under test listens."""

    scheme: str  # "http" or "https"
    host: str  # "127.0.0.1:PORT"

    @classmethod
    def parse(cls, url: str) -> Target:
        if "://" not in url:
            url = "http://" + url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not a registry URL: {url!r}")
        return cls(parts.scheme, parts.netloc)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"


def released_env(target: Target, report_dir: Path) -> dict[str, str]:
    return {
        "OCI_ROOT_URL": target.url,
        "OCI_NAMESPACE": "conformance/released",
        "OCI_CROSSMOUNT_NAMESPACE": "conformance/released-crossmount",
        "OCI_TEST_PULL": "1",
        "OCI_TEST_PUSH": "1",
        "OCI_TEST_CONTENT_DISCOVERY": "1",
        "OCI_TEST_CONTENT_MANAGEMENT": "1",
        "OCI_HIDE_SKIPPED_WORKFLOWS": "0",
        "OCI_DEBUG": "0",  # HTTP traces still land in report.html
        "OCI_DELETE_MANIFEST_BEFORE_BLOBS": "1",  # the suite's default when unset
        "OCI_REPORT_DIR": str(report_dir),  # junit.xml + report.html
        # OCI_AUTOMATIC_CROSSMOUNT stays unset: mounting without `from` is not tested
    }


def latest_env(target: Target, report_dir: Path) -> dict[str, str]:
    return {
        "OCI_REGISTRY": target.host,
        "OCI_TLS": "disabled" if target.scheme == "http" else "insecure",
        "OCI_REPO1": "conformance/repo1",
        "OCI_REPO2": "conformance/repo2",
        "OCI_VERSION": "dev",
        "OCI_RESULTS_DIR": str(report_dir),  # junit.xml, report.html, results.yaml
        "OCI_LOG": "warn",
        # everything else (OCI_API_*, OCI_DATA_*) keeps the suite's defaults for "dev"
    }


@dataclass(frozen=True)
class Suite:
    name: str
    binary: str  # file name in $TOOLS_DIR/bin
    args: tuple[str, ...]
    make_env: Callable[[Target, Path], dict[str, str]]
    # JUnit test cases that are specs; others (ginkgo's "[ReportAfterSuite] …" nodes)
    # count only when they fail
    spec_prefixes: tuple[str, ...]

    def find_binary(self) -> Path | None:
        candidate = tools_bin() / self.binary
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        found = shutil.which(self.binary)
        return Path(found) if found else None

    def version(self, binary: Path) -> tuple[str, str]:
        """(short label, description) from the .version file that build.sh wrote."""
        record = binary.parent / f"oci-conformance-{self.name}.version"
        try:
            version, _, desc = record.read_text().strip().partition(" ")
        except OSError:
            return "unknown-version", "no version record next to the binary"
        label = "v1.1.1" if version == RELEASED_PINNED else version
        return label, f"{version} {desc}".strip()


SUITES: dict[str, Suite] = {
    "released": Suite(
        "released",
        "oci-conformance-released.test",
        ("-ginkgo.no-color",),
        released_env,
        # v1.1.1 names specs without ginkgo's "[It] " (OmitLeafNodeType), older ones with it
        ("[It] ", "OCI Distribution Conformance Tests "),
    ),
    "latest": Suite("latest", "oci-conformance-latest", (), latest_env, ("OCI Conformance Test/",)),
}
SUITE_NAMES = tuple(SUITES)


# --------------------------------------------------------------------------- results


@dataclass
class Outcome:
    suite: str
    label: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (spec, message)
    returncode: int | None = None
    report_dir: Path | None = None
    note: str = ""  # e.g. the suite's own tally

    def summary_line(self) -> str:
        counts = f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"
        line = f"{self.suite} {self.label}: {counts}"
        return f"{line} [{self.note}]" if self.note else line

    def failure_report(self, limit: int | None = None) -> str:
        shown = self.failures if limit is None else self.failures[:limit]
        lines = []
        for name, message in shown:
            lines.append(f"FAIL {name}")
            lines.extend(f"    {m}" for m in message.splitlines() if m.strip())
        if limit is not None and len(self.failures) > limit:
            lines.append(f"... and {len(self.failures) - limit} more (see failures.txt)")
        return "\n".join(lines)


_GINKGO_LOCATION = re.compile(r"In \[[^\]]+\] at: (\S+?):(\d+)")
_FAILED = {"failure", "failed", "error", "panicked", "interrupted", "aborted", "timedout"}
_SKIPPED = {"skipped", "pending", "disabled"}


def _shorten(text: str, limit: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + " …"


def parse_junit(path: Path, outcome: Outcome, spec_prefixes: tuple[str, ...] = ("",)) -> None:
    """Count test cases in a JUnit report (ginkgo's or the rewritten suite's).

    One test case is one spec.  Ginkgo also lists suite-level nodes such as
    "[ReportAfterSuite] html custom reporter": those count only when they fail.
    """
    tree = ET.parse(path)
    for case in tree.iter("testcase"):
        name = case.get("name", "?")
        status = (case.get("status") or "").lower()
        if not status:
            if case.find("failure") is not None or case.find("error") is not None:
                status = "failure"
            elif case.find("skipped") is not None:
                status = "skipped"
            else:
                status = "passed"
        is_spec = name.startswith(spec_prefixes)
        if status in _FAILED:
            outcome.failed += 1
            outcome.failures.append((name.removeprefix("[It] "), _failure_message(case)))
        elif not is_spec:
            continue
        elif status in _SKIPPED:
            outcome.skipped += 1
        else:
            outcome.passed += 1
    # the rewritten suite counts individual checks; keep its own tally for reference
    suite = tree.find("testsuite")
    if suite is not None and suite.get("name") == "OCI Conformance Test":
        tally = {
            k: int(suite.get(k) or 0)
            for k in ("tests", "failures", "errors", "skipped", "disabled")
        }
        passed = (
            tally["tests"]
            - tally["failures"]
            - tally["errors"]
            - tally["skipped"]
            - tally["disabled"]
        )
        outcome.note = (
            f"suite's own check tally: {passed} pass, {tally['failures'] + tally['errors']} fail,"
            f" {tally['skipped'] + tally['disabled']} skip"
        )
        if tally["failures"] + tally["errors"] > 0 and outcome.failed == 0:
            outcome.failed = tally["failures"] + tally["errors"]
            outcome.failures.append(("(suite)", "failures outside any test case; see output.log"))


def _failure_message(case: ET.Element) -> str:
    for tag in ("failure", "error"):
        node = case.find(tag)
        if node is not None:  # ginkgo: a gomega message, flattened, plus the spec's source line
            message = " ".join((node.get("message") or node.text or "").split())
            where = _GINKGO_LOCATION.search(node.text or "")
            if where:
                message += f" (at {Path(where.group(1)).name}:{where.group(2)})"
            return _shorten(message)
    out = case.find("system-out")  # the rewritten suite: its errors, one per line ...
    message = _shorten(out.text) if out is not None and out.text else "(no message)"
    err = case.find("system-err")  # ... and its HTTP trace
    exchange = last_exchange(err.text) if err is not None and err.text else ""
    return f"{message}\n{exchange}" if exchange else message


def last_exchange(trace: str) -> str:
    """'last request: METHOD path -> status [response headers]' from an HTTP debug trace.

    Understands both the released suite's (reggie) and the rewritten suite's format.
    """
    if "~~~ REQUEST ~~~" not in trace:
        return ""
    segment = trace.rsplit("~~~ REQUEST ~~~", 1)[1]
    request, _, response = segment.partition("~~~ RESPONSE ~~~")
    method = target = status = ""
    first = request.strip().splitlines()[0] if request.strip() else ""
    if m := re.match(r"([A-Z]+)\s+(\S+)\s+HTTP/", first):  # reggie: "PUT  /v2/...  HTTP/1.1"
        method, target = m.groups()
    else:
        if m := re.search(r"^Method: (\S+)", request, re.M):
            method = m.group(1)
        if m := re.search(r"^URL: (\S+)", request, re.M):
            parts = urlsplit(m.group(1))
            target = parts.path + (f"?{parts.query}" if parts.query else "")
    if m := re.search(r"^(?:STATUS\s*|Status): (.+)$", response, re.M):
        status = m.group(1).strip()
    headers = re.findall(r"^[ \t]+([A-Za-z][A-Za-z0-9-]*): ", response.split("BODY", 1)[0], re.M)
    body = ""
    if m := re.search(r"^BODY\s*:[ \t]*\n(.*?)(?:^=====|\Z)", response, re.M | re.S):
        body = " ".join(m.group(1).split())
    elif m := re.search(r"^(\{.*\})\s*$", response, re.M):
        body = m.group(1)
    if not method:
        return ""
    line = f"last request: {method} {_shorten(target, 160)} -> {status or 'no response'}"
    if response:
        line += f" [headers: {', '.join(headers) or 'none'}]"
    if body:
        line += f" body: {_shorten(body, 200)}"
    return line


_HTML_FAILED = re.compile(
    r'<div class="result red">.*?<h4[^>]*>(.*?)</h4>.*?<pre class="pre-box">(.*?)</pre>', re.S
)


def add_html_traces(report: Path, outcome: Outcome) -> None:
    """Append the last HTTP exchange of each failed ginkgo spec, from its report.html."""
    if not report.is_file() or not outcome.failures:
        return
    blocks = [
        (html.unescape(title).strip(), html.unescape(trace))
        for title, trace in _HTML_FAILED.findall(report.read_text(errors="replace"))
    ]
    for i, (name, message) in enumerate(outcome.failures):
        if "last request:" in message:
            continue
        for j, (title, trace) in enumerate(blocks):
            if title and name.endswith(title):
                del blocks[j]
                exchange = last_exchange(trace)
                if exchange:
                    outcome.failures[i] = (name, f"{message}\n{exchange}")
                break


# --------------------------------------------------------------------------- running


def run_suite(
    suite: Suite,
    url: str,
    report_dir: Path | None = None,
    verbose: bool = False,
    credentials: tuple[str, str] | None = None,
) -> Outcome:
    """Run one suite binary against the registry at ``url``; never raises on spec failures."""
    binary = suite.find_binary()
    if binary is None:
        raise FileNotFoundError(
            f"{suite.binary} not found in {tools_bin()} or on PATH (run conformance/build.sh)"
        )
    label, desc = suite.version(binary)
    target = Target.parse(url)
    report_dir = report_dir or RESULTS_DIR / suite.name
    shutil.rmtree(report_dir, ignore_errors=True)
    report_dir.mkdir(parents=True)
    # no inherited OCI_* variable leaks in (OCI_AUTOMATIC_CROSSMOUNT must stay unset,
    # and the rewritten suite also reads the legacy variables)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCI_")}
    env.update(suite.make_env(target, report_dir))
    recorded = suite.make_env(target, report_dir)
    if credentials is not None:
        env.update({"OCI_USERNAME": credentials[0], "OCI_PASSWORD": credentials[1]})
        recorded.update({"OCI_USERNAME": credentials[0], "OCI_PASSWORD": "(set)"})
    (report_dir / "env.txt").write_text("".join(f"{k}={v}\n" for k, v in sorted(recorded.items())))
    print(f"== {suite.name} suite {desc}\n   {binary} -> {target.url}", flush=True)
    outcome = Outcome(suite.name, label, report_dir=report_dir)
    log_path = report_dir / "output.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(binary), *suite.args],
            cwd=report_dir,  # keeps stray files (and any oci-conformance.yaml) out of play
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        pump = threading.Thread(target=_copy_output, args=(proc.stdout, log, verbose), daemon=True)
        pump.start()
        try:
            outcome.returncode = proc.wait(timeout=SUITE_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            outcome.returncode = proc.wait()
            outcome.failed += 1
            outcome.failures.append(("(suite)", f"timed out after {SUITE_TIMEOUT:.0f}s"))
        pump.join(timeout=30)
    junit = report_dir / "junit.xml"
    if junit.is_file() and junit.stat().st_size > 0:
        try:
            parse_junit(junit, outcome, suite.spec_prefixes)
            add_html_traces(report_dir / "report.html", outcome)
        except ET.ParseError as exc:
            outcome.failed += 1
            outcome.failures.append(("(suite)", f"unreadable junit.xml: {exc}"))
    else:
        outcome.failed += 1
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        outcome.failures.append(
            (
                "(suite)",
                f"no junit.xml (exit status {outcome.returncode}); output ends:\n"
                + "\n".join(tail),
            )
        )
    if outcome.returncode != 0 and outcome.failed == 0:
        outcome.failed += 1
        outcome.failures.append(
            ("(suite)", f"exited with status {outcome.returncode} but reported no failure")
        )
    if outcome.passed == 0 and outcome.failed == 0:
        outcome.failed += 1
        outcome.failures.append(("(suite)", "ran no spec"))
    (report_dir / "failures.txt").write_text(
        outcome.failure_report() + "\n" if outcome.failures else ""
    )
    return outcome


def _copy_output(pipe: IO[bytes] | None, log: IO[bytes], verbose: bool) -> None:
    if pipe is None:
        return
    with pipe:
        for chunk in iter(pipe.readline, b""):
            log.write(chunk)
            if verbose:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()


# --------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_exe() -> str:
    found = shutil.which("artifact-store")
    if found:
        return found
    local = ROOT / ".venv" / "bin" / "artifact-store"
    if local.is_file():
        return str(local)
    raise FileNotFoundError(
        "artifact-store is not on PATH and .venv/bin/artifact-store is missing (make venv)"
    )


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/", timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def fresh_server(log_path: Path, timeout: float = 30) -> Iterator[str]:
    """artifact-store on a free port with a fresh temporary data directory; yields its URL."""
    host = f"127.0.0.1:{_free_port()}"
    url = f"http://{host}"
    with tempfile.TemporaryDirectory(prefix="artifact-store-conformance-") as tmp:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [_server_exe(), "serve", "--addr", host, "--data-dir", str(Path(tmp) / "data")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + timeout
                while not _serving(url):
                    if proc.poll() is not None:
                        raise RuntimeError(
                            f"artifact-store exited with {proc.returncode}; see {log_path}"
                        )
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"artifact-store did not answer GET /v2/ within {timeout}s"
                        )
                    time.sleep(0.1)
                print(f"== artifact-store serving at {url} (log: {log_path})", flush=True)
                yield url
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


# --------------------------------------------------------------------------- CLI


def credentials_from_env() -> tuple[str, str] | None:
    user, password = os.environ.get("OCI_USERNAME"), os.environ.get("OCI_PASSWORD")
    return (user, password) if user and password else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "url", nargs="?", help="registry to test; default: start a fresh artifact-store"
    )
    parser.add_argument(
        "--suite", action="append", choices=SUITE_NAMES, help="suite(s) to run (default: all)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="stream each suite's own output"
    )
    parser.add_argument("--max-list", type=int, default=60, help="failing specs to print per suite")
    args = parser.parse_args(argv)

    status = 0
    summaries: list[str] = []
    credentials = credentials_from_env()
    for name in args.suite or SUITE_NAMES:
        suite = SUITES[name]
        if suite.find_binary() is None:
            msg = f"{name}: {suite.binary} is not built (run conformance/build.sh; it needs Go)"
            if in_ci():
                print(f"ERROR: {msg}", file=sys.stderr)
                summaries.append(f"{name}: missing")
                status = 1
            else:
                print(f"WARNING: {msg}; skipped", file=sys.stderr)
                summaries.append(f"{name}: skipped (not built)")
            continue
        try:
            if args.url:
                outcome = run_suite(suite, args.url, verbose=args.verbose, credentials=credentials)
            else:
                with fresh_server(RESULTS_DIR / f"{name}-server.log") as url:
                    outcome = run_suite(suite, url, verbose=args.verbose, credentials=credentials)
        except (OSError, RuntimeError) as exc:
            print(f"ERROR: {name}: {exc}", file=sys.stderr)
            summaries.append(f"{name}: error ({exc})")
            status = 1
            continue
        if outcome.failures:
            print(outcome.failure_report(args.max_list))
        print(f"   reports: {outcome.report_dir}")
        print(outcome.summary_line(), flush=True)
        summaries.append(outcome.summary_line())
        if outcome.failed:
            status = 1
    print("\n== conformance summary")
    for line in summaries:
        print(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
