"""S3 object store: boto3 in a thread pool of its own, so no call blocks the event loop.

Keys live under an optional prefix in one bucket; credentials come from the
standard AWS chain. A write streams as a multipart upload in parts of
`part_size` (a small object is one PUT). Publishing copies server-side:
CopyObject up to `copy_threshold`, UploadPartCopy ranges above it. Composing
several objects follows `plan_parts`: ranges of at least 5 MiB are copied by
the server, shorter runs are read and sent again by the registry until they
fill a part, as S3 wants every part but the last to be 5 MiB or more. Nothing
here trusts a listing to show a write that just finished. A server that cannot
be reached, or that answers with an error, raises Unavailable.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from storage.errors import CredentialsRefused, StoreMissing, Unavailable
from storage.objects import ERRORS, READ_CHUNK
from storage.s3_plan import (
    COPY_PART,
    MAX_PARTS,
    MIN_PART,
    PlannedPart,
    S3Config,
    Span,
    part_size_for,
    plan_parts,
    split,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

log = logging.getLogger(__name__)
T = TypeVar("T")

PARTS_IN_FLIGHT = 2  # part uploads a streaming writer keeps going while it buffers the next
PARALLEL_PARTS = 4  # parts a copy or compose sends at once
WORKERS = 32
NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}
NO_BUCKET = {"404", "NoSuchBucket", "NotFound"}
REFUSED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"}
_SESSION_LOCK = threading.Lock()


class S3ObjectStore:
    def __init__(self, config: S3Config, client: S3Client) -> None:
        self.config = config
        self.redirect_reads = config.redirect
        self.copy_part = max(MIN_PART, min(config.copy_threshold, COPY_PART))
        self._bucket = config.bucket
        self._prefix = config.prefix.strip("/") + "/" if config.prefix.strip("/") else ""
        self.client = client
        self._executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="s3")

    @classmethod
    async def open(cls, config: S3Config) -> S3ObjectStore:
        return cls(config, await asyncio.to_thread(new_client, config))

    async def close(self) -> None:
        await asyncio.to_thread(self._executor.shutdown)
        self.client.close()

    async def check_bucket(self) -> None:
        """HeadBucket: StoreMissing, CredentialsRefused or Unavailable, for the caller to
        report (nothing is logged here)."""
        head = functools.partial(self.client.head_bucket, Bucket=self._bucket)
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, head)
        except NoCredentialsError as exc:
            raise CredentialsRefused("no credentials found in the AWS chain") from exc
        except ClientError as exc:
            raise _bucket_refusal(exc) from exc
        except BotoCoreError as exc:
            raise Unavailable(str(exc)) from exc

    async def stat(self, key: str) -> int | None:
        try:
            head = await self.call(self.client.head_object, Bucket=self._bucket, Key=self.name(key))
        except FileNotFoundError:
            return None
        return head["ContentLength"]

    async def read(
        self, key: str, start: int = 0, end: int | None = None, chunk: int = READ_CHUNK
    ) -> AsyncIterator[bytes]:
        if end is not None and end <= start:
            return
        window = f"bytes={start}-{'' if end is None else end - 1}"
        ranged = {"Range": window} if start or end is not None else {}
        try:
            response = await self.call(
                self.client.get_object, Bucket=self._bucket, Key=self.name(key), **ranged
            )
        except _RangeNotSatisfiable:
            return  # start at the very end of the object: nothing to read
        body = response["Body"]
        try:
            while data := await self.call(body.read, chunk):
                yield data
        finally:
            body.close()

    async def open_writer(self, key: str) -> S3Writer:
        return S3Writer(self, key)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await self.call(self.client.put_object, Bucket=self._bucket, Key=self.name(key), Body=data)

    async def publish(self, source: str, target: str) -> None:
        if await self.stat(target) is None:
            size = await self.stat(source)
            if size is None:
                raise FileNotFoundError(source)
            await self._copy(source, target, size)
        await self._delete_one(source)

    async def compose(self, sources: Sequence[str], target: str) -> None:
        if await self.stat(target) is not None:
            return
        sizes = dict(zip(sources, await asyncio.gather(*map(self.stat, sources)), strict=True))
        if None in sizes.values():
            raise FileNotFoundError([key for key, size in sizes.items() if size is None])
        objects = [(key, size) for key, size in sizes.items() if size]
        if not objects:
            return await self.put_bytes(target, b"")
        await self._multipart(target, plan_parts(objects, self.config.part_size, self.copy_part))

    async def delete(self, key: str) -> None:
        await self._delete_one(key)
        below = [k async for k in self.list(key.rstrip("/") + "/")]
        for start in range(0, len(below), 1000):
            batch = [{"Key": self.name(k)} for k in below[start : start + 1000]]
            await self.call(
                self.client.delete_objects,
                Bucket=self._bucket,
                Delete={"Objects": batch, "Quiet": True},
            )

    async def list(self, prefix: str) -> AsyncIterator[str]:
        async for key, _ in self.list_dated(prefix):
            yield key

    async def list_dated(self, prefix: str) -> AsyncIterator[tuple[str, datetime]]:
        """A page (1000 keys) at a time, sorted as S3 lists them."""
        under = prefix.rstrip("/") + "/"
        token: dict[str, str] = {}
        while True:
            page = await self.call(
                self.client.list_objects_v2, Bucket=self._bucket, Prefix=self.name(prefix), **token
            )
            for item in page.get("Contents", []):
                key = item["Key"][len(self._prefix) :]
                if not prefix or key == prefix or key.startswith(under):
                    yield key, item["LastModified"]
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    async def abort_unfinished(self, prefix: str, older_than: datetime | None = None) -> int:
        aborted = 0
        marker: dict[str, str] = {}
        while True:
            page = await self.call(
                self.client.list_multipart_uploads,
                Bucket=self._bucket,
                Prefix=self.name(prefix),
                **marker,
            )
            for item in page.get("Uploads", []):
                if older_than is None or item["Initiated"] < older_than:
                    key = item["Key"][len(self._prefix) :]
                    await MultipartUpload(self, key, item["UploadId"]).abort()
                    aborted += 1
            if not page.get("IsTruncated"):
                return aborted
            marker = {
                "KeyMarker": page["NextKeyMarker"],
                "UploadIdMarker": page["NextUploadIdMarker"],
            }

    async def presigned_url(self, key: str) -> str:
        return await self.call(
            self.client.generate_presigned_url,
            ClientMethod="get_object",
            Params={"Bucket": self._bucket, "Key": self.name(key)},
            ExpiresIn=self.config.presign_seconds,
        )

    def name(self, key: str) -> str:
        """The S3 key of an object-store key."""
        return self._prefix + key

    async def call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one blocking boto3 call in the pool; S3 failures become storage errors."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, functools.partial(method, *args, **kwargs)
            )
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from exc

    async def _delete_one(self, key: str) -> None:
        await self.call(self.client.delete_object, Bucket=self._bucket, Key=self.name(key))

    async def _copy(self, source: str, target: str, size: int) -> None:
        if size <= self.config.copy_threshold:
            await self.call(
                self.client.copy_object,
                Bucket=self._bucket,
                Key=self.name(target),
                CopySource={"Bucket": self._bucket, "Key": self.name(source)},
            )
            return
        spans = split(source, 0, size, self.copy_part)
        await self._multipart(target, [PlannedPart((span,), True) for span in spans])

    async def _multipart(self, target: str, parts: Sequence[PlannedPart]) -> None:
        if len(parts) > MAX_PARTS:
            raise Unavailable(f"object store: {len(parts)} parts exceed S3's {MAX_PARTS}")
        upload = await MultipartUpload.create(self, target)
        limit = asyncio.Semaphore(PARALLEL_PARTS)

        async def send(number: int, part: PlannedPart) -> None:
            async with limit:
                await upload.send_part(number, part)

        try:
            async with asyncio.TaskGroup() as group:
                for number, part in enumerate(parts, 1):
                    group.create_task(send(number, part))
            await upload.complete()
        except BaseException:
            await upload.abort()
            raise


class MultipartUpload:
    """One S3 multipart upload: parts sent as bytes or copied server-side, then completed."""

    def __init__(self, store: S3ObjectStore, key: str, upload_id: str) -> None:
        self.store = store
        self.key = key
        self.upload_id = upload_id
        self.parts: list[CompletedPartTypeDef] = []

    @classmethod
    async def create(cls, store: S3ObjectStore, key: str) -> MultipartUpload:
        client = store.client
        started = await store.call(
            client.create_multipart_upload, Bucket=store.config.bucket, Key=store.name(key)
        )
        return cls(store, key, started["UploadId"])

    def _target(self, number: int) -> dict[str, Any]:
        return {
            "Bucket": self.store.config.bucket,
            "Key": self.store.name(self.key),
            "UploadId": self.upload_id,
            "PartNumber": number,
        }

    async def upload_part(self, number: int, body: bytes) -> None:
        sent = await self.store.call(
            self.store.client.upload_part, Body=body, **self._target(number)
        )
        self.parts.append({"PartNumber": number, "ETag": sent["ETag"]})

    async def copy_part(self, number: int, span: Span) -> None:
        copied = await self.store.call(
            self.store.client.upload_part_copy,
            CopySource={"Bucket": self.store.config.bucket, "Key": self.store.name(span.key)},
            CopySourceRange=f"bytes={span.start}-{span.end - 1}",
            **self._target(number),
        )
        self.parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})

    async def send_part(self, number: int, part: PlannedPart) -> None:
        if part.server_side:
            return await self.copy_part(number, part.spans[0])
        chunks = [c for span in part.spans async for c in self._read(span)]
        await self.upload_part(number, b"".join(chunks))

    def _read(self, span: Span) -> AsyncIterator[bytes]:
        return self.store.read(span.key, span.start, span.end)

    async def complete(self) -> None:
        parts = sorted(self.parts, key=lambda part: part["PartNumber"])
        await self.store.call(
            self.store.client.complete_multipart_upload,
            Bucket=self.store.config.bucket,
            Key=self.store.name(self.key),
            UploadId=self.upload_id,
            MultipartUpload={"Parts": parts},
        )

    async def abort(self) -> None:
        try:
            await self.store.call(
                self.store.client.abort_multipart_upload,
                Bucket=self.store.config.bucket,
                Key=self.store.name(self.key),
                UploadId=self.upload_id,
            )
        except (FileNotFoundError, Unavailable):
            log.warning("could not abort multipart upload %s of %s", self.upload_id, self.key)


class S3Writer:
    """Streams an object as a multipart upload, a few parts in flight; a small one is one PUT."""

    def __init__(self, store: S3ObjectStore, key: str) -> None:
        self._store = store
        self._key = key
        self._held: list[bytes] = []
        self._held_size = 0
        self._upload: MultipartUpload | None = None
        self._number = 0
        self._in_flight: list[asyncio.Task[None]] = []

    async def write(self, data: bytes) -> None:
        self._held.append(data)
        self._held_size += len(data)
        if self._held_size >= part_size_for(self._store.config.part_size, self._number + 1):
            await self._send_held()

    async def commit(self) -> None:
        if self._upload is None:
            return await self._store.put_bytes(self._key, self._take_held())
        if self._held_size:
            await self._send_held()
        await asyncio.gather(*self._in_flight)
        await self._upload.complete()

    async def abort(self) -> None:
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._upload is not None:
            await self._upload.abort()

    async def _send_held(self) -> None:
        if self._upload is None:
            self._upload = await MultipartUpload.create(self._store, self._key)
        self._number += 1
        body = self._take_held()
        self._in_flight.append(asyncio.create_task(self._upload.upload_part(self._number, body)))
        while len(self._in_flight) > PARTS_IN_FLIGHT:
            await self._in_flight.pop(0)

    def _take_held(self) -> bytes:
        body = b"".join(self._held)
        self._held.clear()
        self._held_size = 0
        return body


class _RangeNotSatisfiable(Exception):
    pass


def _translate(exc: BotoCoreError | ClientError) -> Exception:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in NOT_FOUND:
            return FileNotFoundError(str(exc))
        if code == "InvalidRange":
            return _RangeNotSatisfiable(str(exc))
    log.warning("object store unavailable: %s", exc)
    ERRORS.inc()
    return Unavailable("object store unavailable")


def _bucket_refusal(exc: ClientError) -> Unavailable:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    answer = f"{code} {error.get('Message', '')}".strip()
    if code in NO_BUCKET:
        return StoreMissing(answer)
    if code in REFUSED:
        return CredentialsRefused(answer)
    return Unavailable(f"the object store answered {answer}")


def new_client(config: S3Config) -> S3Client:
    settings = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if config.endpoint_url else "auto"},
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=120,
        max_pool_connections=WORKERS,
        # Our own digests cover the bytes; extra CRCs cost CPU and some S3 servers refuse them.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    with _SESSION_LOCK:  # a session hands out clients one at a time; clients are thread-safe
        return _session().client(
            "s3", endpoint_url=config.endpoint_url, region_name=config.region, config=settings
        )


@functools.cache
def _session() -> boto3.session.Session:
    """One session per process: it caches the S3 service model, which takes long to load."""
    return boto3.session.Session()
