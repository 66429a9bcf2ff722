"""The object storage settings: same names in TOML, environment and flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.cli import build_parser
from registry.config import ConfigError, load
from storage.s3_plan import S3Config

S3_ENV = {
    "ARTIFACT_STORE_STORAGE": "S3",
    "ARTIFACT_STORE_S3_BUCKET": "blobs",
    "ARTIFACT_STORE_S3_ENDPOINT_URL": "http://127.0.0.1:8333",
    "ARTIFACT_STORE_S3_REGION": "eu-west-1",
    "ARTIFACT_STORE_S3_PREFIX": "registry",
    "ARTIFACT_STORE_S3_PART_SIZE": "16777216",
    "ARTIFACT_STORE_S3_REDIRECT": "yes",
}


def serve_flags(*argv: str) -> dict[str, object]:
    return vars(build_parser().parse_args(["serve", *argv]))


def test_filesystem_is_the_default() -> None:
    settings = load(None, {}, {})
    assert (settings.storage, settings.s3) == ("filesystem", None)


def test_s3_from_the_environment() -> None:
    assert load(None, S3_ENV, {}).s3 == S3Config(
        bucket="blobs",
        endpoint_url="http://127.0.0.1:8333",
        region="eu-west-1",
        prefix="registry",
        part_size=16 * 1024 * 1024,
        redirect=True,
    )


def test_s3_from_a_file_and_flags(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('storage = "s3"\ns3_bucket = "file"\ns3_redirect = true\n')
    flags = serve_flags("--s3-bucket", "flag", "--no-s3-redirect", "--s3-part-size", "5242880")
    s3 = load(config, {}, flags).s3
    assert s3 is not None
    assert (s3.bucket, s3.redirect, s3.part_size, s3.endpoint_url) == ("flag", False, 5242880, None)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"ARTIFACT_STORE_STORAGE": "nfs"}, "storage must be", id="unknown-backend"),
        pytest.param({"ARTIFACT_STORE_STORAGE": "s3"}, "needs s3_bucket", id="no-bucket"),
        pytest.param({"ARTIFACT_STORE_S3_PART_SIZE": "1048576"}, "s3_part_size", id="small-part"),
        pytest.param({"ARTIFACT_STORE_S3_PART_SIZE": "big"}, "whole number", id="bad-part"),
        pytest.param({"ARTIFACT_STORE_S3_REDIRECT": "maybe"}, "true or false", id="bad-bool"),
    ],
)
def test_bad_storage_settings(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(None, env, {})


def test_help_lists_the_storage_settings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = capsys.readouterr().out
    for name in ("--storage", "--s3-bucket", "--s3-redirect", "ARTIFACT_STORE_S3_PART_SIZE"):
        assert name in text
