"""`artifact-store check` against a good and a broken configuration: real PostgreSQL and
SeaweedFS for the connections, the effective settings with their sources and masked
secrets, exit 0 only when serve would start, and nothing created or migrated."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from registry.version import package_version
from storage.database import revisions
from tests.auth.helpers import make_certificates, write_htpasswd
from tests.conftest import free_port
from tests.registry import cli_process
from tests.scaleout.postgres import PostgresServer
from tests.storage.s3server import REGION, S3Server

CHECKS = ["addr", "data_dir", "tls", "auth", "objects", "metadata"]
PASSWORD = "sekrit-Passw0rd"


HEAD = revisions()[-1]


def settings_file(directory: Path, **values: str) -> Path:
    path = directory / "settings.toml"
    path.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items()))
    return path


def check(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = cli_process.run("check", "--json", *args, env=env)
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in report["checks"]}


def test_a_good_configuration_passes_and_nothing_is_migrated(
    tmp_path: Path, postgres: PostgresServer, s3_server: S3Server
) -> None:
    database = postgres.create_database("checked")
    bucket = s3_server.new_bucket()
    certificates = make_certificates(tmp_path / "tls")
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"alice": "alice-pw"})
    config = settings_file(
        tmp_path,
        data_dir=str(tmp_path / "data"),
        storage="s3",
        s3_bucket=bucket,
        s3_endpoint_url=s3_server.endpoint,
        s3_region=REGION,
    )
    env = {
        **s3_server.env(),
        "ARTIFACT_STORE_METADATA_URL": database.replace("postgres@", f"postgres:{PASSWORD}@"),
    }
    flags = ["--config", str(config), "--addr", f"127.0.0.1:{free_port()}"]
    flags += ["--auth-htpasswd", str(htpasswd)]
    flags += ["--tls-cert", str(certificates.cert_file), "--tls-key", str(certificates.key_file)]
    status, report = check(*flags, env=env)
    assert (status, report["ok"]) == (0, True), report["checks"]
    assert list(checks(report)) == CHECKS
    assert f"migrations pending ({', '.join(revisions())})" in checks(report)["metadata"]["detail"]
    assert "1 users in" in checks(report)["auth"]["detail"]
    settings = report["settings"]
    assert settings["metadata_url"] == {
        "value": database.replace("postgres@", "postgres:***@"),
        "source": "environment",
    }
    assert PASSWORD not in json.dumps(report)
    assert settings["s3_bucket"] == {"value": bucket, "source": "file"}
    assert settings["auth_htpasswd"] == {"value": str(htpasswd), "source": "flag"}
    assert settings["metadata_connect_timeout"] == {"value": "30s", "source": "default"}
    name = database.rpartition("/")[2]
    assert postgres.psql("SELECT to_regclass('alembic_version')", name).stdout.strip() == ""
    assert s3_server.keys(bucket) == [], "the probe object was left behind"
    assert not (tmp_path / "data").exists(), "check created the data directory"

    migrated = cli_process.run("migrate", "--metadata-url", database)
    assert migrated.returncode == 0, migrated.stderr
    status, report = check(*flags, env=env)
    assert status == 0 and f"{HEAD} (the newest)" in checks(report)["metadata"]["detail"]


def test_a_broken_configuration_fails_and_says_why(
    tmp_path: Path, postgres: PostgresServer, s3_server: S3Server
) -> None:
    missing_bucket = f"missing-{uuid.uuid4().hex[:12]}"
    flags = [
        "--data-dir",
        str(tmp_path / "data"),
        "--metadata-url",
        postgres.url().replace("postgres@", "intruder:guess@"),
        "--storage",
        "s3",
        "--s3-bucket",
        missing_bucket,
        "--s3-endpoint-url",
        s3_server.endpoint,
        "--s3-region",
        REGION,
        "--auth-htpasswd",
        str(tmp_path / "no-such-htpasswd"),
    ]
    status, report = check(*flags, env=s3_server.env())
    assert (status, report["ok"]) == (2, False)
    failed = {name: entry["detail"] for name, entry in checks(report).items() if not entry["ok"]}
    assert sorted(failed) == ["auth", "metadata", "objects"]
    assert failed["objects"].startswith(f"s3_bucket {missing_bucket} at ")
    assert "the bucket does not exist" in failed["objects"]
    assert "the credentials were refused" in failed["metadata"]
    assert "no-such-htpasswd: cannot read it: does not exist" in failed["auth"]

    text = cli_process.run("check", *flags, env=s3_server.env())
    assert text.returncode == 2
    assert "FAIL  metadata" in text.stdout and "  ok    addr" in text.stdout
    assert text.stdout.rstrip().endswith("serve would fail: auth, objects, metadata")


def test_check_does_not_wait_for_an_unreachable_database(tmp_path: Path) -> None:
    url = f"postgresql://registry:pw@127.0.0.1:{free_port()}/registry"
    flags = ["--data-dir", str(tmp_path / "data"), "--metadata-url", url]
    result = cli_process.run("check", *flags, "--metadata-connect-timeout", "10m", timeout=60)
    assert result.returncode == 1, result.stdout
    assert "FAIL  metadata  metadata database postgresql://registry:***@" in result.stdout
    assert "unreachable (Connection refused)" in result.stdout


def test_check_on_the_defaults_would_start(tmp_path: Path) -> None:
    addr = f"127.0.0.1:{free_port()}"
    result = cli_process.run("check", "--data-dir", str(tmp_path / "data"), "--addr", addr)
    assert result.returncode == 0, result.stdout
    assert result.stdout.rstrip().endswith("serve would start")
    assert "  log_level " in result.stdout and " default" in result.stdout


def test_version() -> None:
    result = cli_process.run("--version")
    assert (result.returncode, result.stdout.strip()) == (0, package_version())
