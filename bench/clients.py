"""The load tools: curl for streams, wrk for request rates, skopeo for images, httpx helpers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

OCTETS = {"Content-Type": "application/octet-stream"}
PIECE = 1 << 20


class WorkloadError(RuntimeError):
    """A server answered something other than what the protocol says."""


def expect(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        raise WorkloadError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} (wanted {status}) {response.text[:200]}"
        )
    return response


def with_digest(location: str, digest: str) -> str:
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def start_upload(http: httpx.Client, repo: str) -> str:
    """POST an upload session; its absolute URL."""
    response = expect(http.post(f"/v2/{repo}/blobs/uploads/"), 202)
    return str(http.base_url.join(response.headers["location"]))


def push_bytes(http: httpx.Client, repo: str, data: bytes, digest: str) -> None:
    location = start_upload(http, repo)
    expect(http.put(with_digest(location, digest), content=data, headers=OCTETS), 201)


def put_manifest(http: httpx.Client, repo: str, reference: str, manifest: bytes) -> None:
    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    expect(http.put(f"/v2/{repo}/manifests/{reference}", content=manifest, headers=headers), 201)


def file_pieces(path: Path, start: int, length: int) -> Iterator[bytes]:
    """Bytes [start, start + length) of a file, read as they are sent."""
    fd = os.open(path, os.O_RDONLY)
    try:
        end = start + length
        while start < end:
            piece = os.pread(fd, min(PIECE, end - start), start)
            if not piece:
                raise WorkloadError(f"{path} ended at {start}")
            start += len(piece)
            yield piece
    finally:
        os.close(fd)


def run(argv: list[str], timeout: float) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise WorkloadError(f"{argv[0]} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


# --- curl ---------------------------------------------------------------------------------

CURL = ["curl", "--silent", "--show-error", "--output", "/dev/null"]
CURL_TIMEOUT = 900


def curl_put_file(url: str, path: Path) -> None:
    """A monolithic PUT streamed from the file (no Expect: 100-continue round trip)."""
    headers = ["-H", "Expect:", "-H", "Content-Type: application/octet-stream"]
    argv = [*CURL, "--upload-file", str(path), *headers, "--write-out", "%{http_code}", url]
    status = run(argv, CURL_TIMEOUT)
    if status != "201":
        raise WorkloadError(f"PUT {url}: {status} (wanted 201)")


def curl_get_argv(url: str) -> list[str]:
    return [*CURL, "--write-out", "%{http_code} %{size_download}", url]


def check_download(url: str, output: str, size: int) -> None:
    if output.split() != ["200", str(size)]:
        raise WorkloadError(f"GET {url}: {output!r} (wanted 200 and {size} bytes)")


def curl_get(url: str, size: int) -> None:
    check_download(url, run(curl_get_argv(url), CURL_TIMEOUT), size)


def curl_get_many(url: str, size: int, clients: int) -> None:
    """`clients` curl processes fetching the same URL at once."""
    processes = [
        subprocess.Popen(curl_get_argv(url), stdout=subprocess.PIPE, text=True)
        for _ in range(clients)
    ]
    outputs = [process.communicate(timeout=CURL_TIMEOUT)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            raise WorkloadError(f"curl exited {process.returncode}")
        check_download(url, output, size)


# --- wrk ----------------------------------------------------------------------------------

WRK_SCRIPT = """\
wrk.method = "{method}"
wrk.headers["Accept"] = "{accept}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "status_errors": %d, '
    .. '"socket_errors": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class RateResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    socket_errors: int


def write_wrk_script(path: Path, method: str, accept: str) -> Path:
    path.write_text(WRK_SCRIPT.format(method=method, accept=accept))
    return path


def wrk(url: str, script: Path, connections: int, seconds: int) -> RateResult:
    """One wrk thread, `connections` keep-alive connections, for `seconds`."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    output = run([*argv, "-s", str(script), url], seconds + 120)
    lines = [line for line in output.splitlines() if line.startswith('{"requests"')]
    if not lines:
        raise WorkloadError(f"wrk printed no summary: {output[-500:]}")
    summary = json.loads(lines[-1])
    if summary["status_errors"] or not summary["requests"]:
        raise WorkloadError(f"wrk {url}: {summary}")
    return RateResult(
        summary["requests"] / (summary["duration_us"] / 1e6),
        summary["p50_us"] / 1000,
        summary["p99_us"] / 1000,
        summary["socket_errors"],
    )


def oha(url: str, method: str, accept: str, connections: int, seconds: int) -> RateResult:
    """For HEAD, which wrk cannot parse: one runtime thread, like wrk's one thread. Without
    oha (it takes minutes to build; `make test` does not install it) a plain Python loop
    stands in: good enough to exercise the harness, not to compare servers."""
    if shutil.which("oha") is None:
        return python_rate(url, method, accept, min(connections, 4), seconds)
    argv = ["oha", "--no-tui", "--output-format", "json", "--worker-threads", "1"]
    argv += ["-m", method, "-H", f"Accept: {accept}", "-c", str(connections), "-z", f"{seconds}s"]
    result = json.loads(run([*argv, url], seconds + 120))
    statuses = {int(code): count for code, count in result["statusCodeDistribution"].items()}
    good = sum(count for code, count in statuses.items() if 200 <= code < 400)
    if good == 0 or good != sum(statuses.values()):
        raise WorkloadError(f"oha {method} {url}: {statuses}")
    errors = result["errorDistribution"]
    latency = result["latencyPercentiles"]
    return RateResult(
        good / result["summary"]["total"],
        latency["p50"] * 1000,
        latency["p99"] * 1000,
        sum(n for name, n in errors.items() if "deadline" not in name),
    )


def python_rate(url: str, method: str, accept: str, connections: int, seconds: int) -> RateResult:
    """Requests on `connections` keep-alive connections, one thread each, for `seconds`."""
    deadline = time.monotonic() + seconds
    latencies: list[float] = []

    def loop() -> None:
        with httpx.Client(headers={"Accept": accept}) as http:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                expect(http.request(method, url), 200)
                latencies.append(time.perf_counter() - started)

    started = time.monotonic()
    with ThreadPoolExecutor(connections) as pool:
        for done in [pool.submit(loop) for _ in range(connections)]:
            done.result()
    ordered = sorted(latencies)
    return RateResult(
        len(ordered) / (time.monotonic() - started),
        ordered[len(ordered) // 2] * 1000,
        ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)] * 1000,
        0,
    )


# --- skopeo -------------------------------------------------------------------------------

SKOPEO = ["skopeo", "--insecure-policy", "copy", "--quiet"]
SKOPEO_TIMEOUT = 900


def skopeo_copy(source: str, destination: str) -> None:
    tls = ["--src-tls-verify=false", "--dest-tls-verify=false"]
    run([*SKOPEO, *tls, source, destination], SKOPEO_TIMEOUT)
