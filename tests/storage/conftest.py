"""Object stores to run the shared backend suite on: the filesystem, and S3 on a real SeaweedFS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.filesystem import FilesystemObjectStore
from storage.objects import ObjectStore, close
from storage.s3 import S3ObjectStore
from storage.s3_plan import MIN_PART, S3Config
from tests.storage.s3server import REGION, S3Server

# Publishing above this copies in UploadPartCopy ranges; S3 does it above 5 GiB,
# which is too much to move in a test.
SMALL_COPY_THRESHOLD = MIN_PART + 1024 * 1024


@pytest.fixture
def s3_config(s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> S3Config:
    """Settings for a store of its own under a fresh prefix; credentials in the environment."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return S3Config(
        bucket=s3_bucket,
        endpoint_url=s3_server.endpoint,
        region=REGION,
        prefix=f"suite/{uuid.uuid4().hex}",
        part_size=MIN_PART,
        copy_threshold=SMALL_COPY_THRESHOLD,
    )


@pytest.fixture(params=["filesystem", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    """Each backend in turn; a test that leaves any key (or S3 upload) behind fails."""
    if request.param == "filesystem":
        backend: ObjectStore = FilesystemObjectStore(tmp_path / "objects")
    else:
        config: S3Config = request.getfixturevalue("s3_config")
        backend = await S3ObjectStore.open(config)
    yield backend
    try:
        assert [key async for key in backend.list("")] == [], "the test left keys behind"
        if isinstance(backend, S3ObjectStore):
            assert await unfinished_uploads(backend) == [], "the test left S3 uploads open"
    finally:
        await close(backend)


async def unfinished_uploads(store: S3ObjectStore) -> list[str]:
    listing = await store.call(
        store.client.list_multipart_uploads, Bucket=store.config.bucket, Prefix=store.name("")
    )
    return [upload["Key"] for upload in listing.get("Uploads", [])]
