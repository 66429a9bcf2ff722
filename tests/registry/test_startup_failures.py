"""`serve` in each broken environment: exit status 2 (configuration) or 1 (environment)
and one line on stderr naming what is wrong, never a traceback.

Each row builds its broken environment with real parts: a port held by another
socket, directories and files without permission (a root test run drops root's
capabilities for the server), a tiny full tmpfs, mismatched TLS files, a closed
port and a real PostgreSQL for the database, a real SeaweedFS for S3.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.auth.helpers import make_certificates, write_htpasswd
from tests.conftest import free_port
from tests.registry import cli_process

CONFIGURATION, ENVIRONMENT = 2, 1
UNPRIVILEGED_PORT_START = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")


@dataclass
class Scene:
    """Where a row builds its broken environment."""

    tmp: Path
    request: pytest.FixtureRequest
    cleanup: contextlib.ExitStack
    data_dir: Path


@dataclass(frozen=True)
class Broken:
    args: list[str]  # after `serve --addr <free port> --data-dir <scene.data_dir>`
    status: int
    names: str  # the setting or resource the line must name
    says: str = ""  # and what it must say was found
    env: dict[str, str] = field(default_factory=dict)
    unprivileged: bool = False
    retried: bool = False  # a failed attempt is logged for each retry before the line
    # Log records that may come before the line: botocore tells at INFO where it found
    # the S3 credentials (what the log shows at start is the logging setup's concern).
    logged: tuple[str, ...] = ()


def migrated(scene: Scene) -> None:
    """A data directory migrated beforehand: a fresh one logs its migrations first."""
    done = cli_process.run("migrate", "--data-dir", str(scene.data_dir))
    assert done.returncode == 0, done.stderr


def address_in_use(scene: Scene) -> Broken:
    listener = scene.cleanup.enter_context(socket.socket())
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    migrated(scene)
    addr = f"127.0.0.1:{listener.getsockname()[1]}"
    return Broken(["--addr", addr], ENVIRONMENT, f"addr {addr}", "already in use")


def address_not_permitted(scene: Scene) -> Broken:
    if int(UNPRIVILEGED_PORT_START.read_text()) <= 1:
        pytest.skip("this host lets every user bind every port")
    migrated(scene)
    addr = "127.0.0.1:1"
    return Broken(["--addr", addr], ENVIRONMENT, f"addr {addr}", "permission denied", {}, True)


def address_not_on_this_host(scene: Scene) -> Broken:
    migrated(scene)
    addr = "192.0.2.1:5000"  # TEST-NET-1: no host has it
    return Broken(["--addr", addr], CONFIGURATION, f"addr {addr}", "not an address of this host")


def data_dir_is_a_file(scene: Scene) -> Broken:
    scene.data_dir.write_text("")
    return Broken([], CONFIGURATION, f"data_dir {scene.data_dir}", "is a file")


def data_dir_cannot_be_created(scene: Scene) -> Broken:
    locked = scene.tmp / "locked"
    locked.mkdir(mode=0o555)
    scene.data_dir = locked / "data"
    return Broken([], ENVIRONMENT, f"data_dir {scene.data_dir}", "cannot create it", {}, True)


def data_dir_unwritable(scene: Scene) -> Broken:
    scene.data_dir.mkdir(mode=0o555)
    says = "cannot write a file in it: permission denied"
    return Broken([], ENVIRONMENT, f"data_dir {scene.data_dir}", says, {}, True)


def data_dir_on_a_full_disk(scene: Scene) -> Broken:
    disk = scene.tmp / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)])
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs is not permitted here")
    scene.cleanup.callback(subprocess.run, ["umount", "-l", str(disk)], check=True)
    scene.data_dir = disk / "data"
    scene.data_dir.mkdir()
    fill(disk / "filler")
    return Broken([], ENVIRONMENT, f"data_dir {scene.data_dir}", "no space left on device")


def fill(path: Path) -> None:
    with open(path, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def tls_key_unreadable(scene: Scene) -> Broken:
    pair = make_certificates(scene.tmp / "tls")
    pair.key_file.chmod(0)
    args = ["--tls-cert", str(pair.cert_file), "--tls-key", str(pair.key_file)]
    says = "cannot read it: permission denied"
    return Broken(args, ENVIRONMENT, f"tls_key {pair.key_file}", says, {}, True)


def tls_pair_mismatched(scene: Scene) -> Broken:
    one, other = make_certificates(scene.tmp / "one"), make_certificates(scene.tmp / "other")
    args = ["--tls-cert", str(one.cert_file), "--tls-key", str(other.key_file)]
    says = "is not the private key of the certificate"
    return Broken(args, CONFIGURATION, f"tls_key {other.key_file}", says)


def htpasswd_unreadable(scene: Scene) -> Broken:
    htpasswd = write_htpasswd(scene.tmp / "htpasswd", {"alice": "secret"})
    htpasswd.chmod(0)
    says = "cannot read it: permission denied"
    return Broken(["--auth-htpasswd", str(htpasswd)], ENVIRONMENT, "auth_htpasswd", says, {}, True)


def database_unreachable(scene: Scene) -> Broken:
    url = f"postgresql://registry:secret@127.0.0.1:{free_port()}/registry"  # nothing listens
    args = ["--metadata-url", url, "--metadata-connect-timeout", "2s"]
    names = "metadata database postgresql://registry:***@127.0.0.1"
    return Broken(args, ENVIRONMENT, names, "unreachable for 2s", retried=True)


def database_refuses_credentials(scene: Scene) -> Broken:
    url = scene.request.getfixturevalue("postgres").url().replace("postgres@", "intruder:guess@")
    names = "metadata database postgresql://intruder:***@"
    return Broken(["--metadata-url", url], CONFIGURATION, names, "credentials were refused")


def database_not_a_database(scene: Scene) -> Broken:
    scene.data_dir.mkdir()
    (scene.data_dir / "metadata.db").write_bytes(b"not a database\n" * 512)
    return Broken([], ENVIRONMENT, "metadata database sqlite:", "migrating its schema failed")


S3_LOGGED = ("INFO botocore.credentials Found credentials",)


def s3_flags(scene: Scene, bucket: str) -> tuple[list[str], dict[str, str]]:
    s3 = scene.request.getfixturevalue("s3_server")
    args = ["--storage", "s3", "--s3-bucket", bucket, "--s3-endpoint-url", s3.endpoint]
    return [*args, "--s3-region", "us-east-1"], s3.env()


def bucket_missing(scene: Scene) -> Broken:
    bucket = f"missing-{uuid.uuid4().hex[:12]}"
    args, env = s3_flags(scene, bucket)
    return Broken(
        args, CONFIGURATION, f"s3_bucket {bucket}", "does not exist", env, logged=S3_LOGGED
    )


def s3_credentials_refused(scene: Scene) -> Broken:
    bucket = scene.request.getfixturevalue("s3_server").new_bucket()
    args, env = s3_flags(scene, bucket)
    env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    return Broken(
        args, CONFIGURATION, f"s3_bucket {bucket}", "access was refused", env, logged=S3_LOGGED
    )


def bad_setting(scene: Scene) -> Broken:
    env = {"ARTIFACT_STORE_LOG_LEVEL": "loud"}
    return Broken([], CONFIGURATION, "log_level", "got 'loud'", env)


CASES: list[Callable[[Scene], Broken]] = [
    address_in_use,
    address_not_permitted,
    address_not_on_this_host,
    data_dir_is_a_file,
    data_dir_cannot_be_created,
    data_dir_unwritable,
    data_dir_on_a_full_disk,
    tls_key_unreadable,
    tls_pair_mismatched,
    htpasswd_unreadable,
    database_unreachable,
    database_refuses_credentials,
    database_not_a_database,
    bucket_missing,
    s3_credentials_refused,
    bad_setting,
]


@pytest.fixture
def scene(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Scene]:
    with contextlib.ExitStack() as cleanup:
        yield Scene(tmp_path, request, cleanup, tmp_path / "data")


def serve(scene: Scene, broken: Broken, *extra: str) -> subprocess.CompletedProcess[str]:
    place = ["--addr", f"127.0.0.1:{free_port()}", "--data-dir", str(scene.data_dir)]
    return cli_process.run(
        "serve", *place, *broken.args, *extra, env=broken.env, unprivileged=broken.unprivileged
    )


@pytest.mark.parametrize("case", [pytest.param(c, id=c.__name__) for c in CASES])
def test_one_line_and_an_exit_status(scene: Scene, case: Callable[[Scene], Broken]) -> None:
    broken = case(scene)
    result = serve(scene, broken)
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == broken.status, result.stderr
    assert lines and lines[-1].startswith("artifact-store: "), result.stderr
    assert broken.names in lines[-1] and broken.says in lines[-1], lines[-1]
    assert "; " in lines[-1], "the line ends with the fix"
    before = [line for line in lines[:-1] if not any(log in line for log in broken.logged)]
    if broken.retried:
        assert before and all("attempt" in line for line in before), result.stderr
    else:
        assert before == [], result.stderr


def test_debug_shows_the_traceback_too(scene: Scene) -> None:
    broken = data_dir_is_a_file(scene)
    result = serve(scene, broken, "--log-level", "debug")
    assert result.returncode == CONFIGURATION
    assert "Traceback" in result.stderr and "FileExistsError" in result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"artifact-store: data_dir {scene.data_dir}")


def test_ctrl_c_while_waiting_for_the_database_ends_quietly(tmp_path: Path) -> None:
    url = f"postgresql://registry:secret@127.0.0.1:{free_port()}/registry"
    args = ["serve", "--addr", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "data")]
    args += ["--metadata-url", url, "--metadata-connect-timeout", "10m"]
    process = subprocess.Popen(
        [cli_process.executable(), *args], stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    assert process.stderr is not None
    first = process.stderr.readline().decode()  # the first failed attempt: it is waiting
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=30)[1].decode()
    assert "attempt 1" in first and process.returncode == 130
    assert "Traceback" not in rest, rest
