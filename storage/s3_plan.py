"""S3 settings and multipart planning: pure arithmetic, no boto3.

S3 wants every part of a multipart upload but the last to be 5 MiB or more, at
most 5 GiB, and at most 10,000 of them. `plan_parts` decides which ranges the
server copies and which pass through the registry; the configuration checks
import the limits from here without loading boto3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MiB = 1024 * 1024
MIN_PART = 5 * MiB  # S3's floor for every part but the last
MAX_PART = 5 * 1024 * MiB  # S3's ceiling for one part, and for one CopyObject
MAX_PARTS = 10_000
COPY_PART = 1024 * MiB  # range of one UploadPartCopy in a large copy


@dataclass(frozen=True)
class S3Config:
    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    prefix: str = ""
    part_size: int = 8 * MiB
    redirect: bool = False
    copy_threshold: int = MAX_PART  # above this, publish copies in UploadPartCopy ranges
    presign_seconds: int = 900


@dataclass(frozen=True, slots=True)
class Span:
    key: str
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class PlannedPart:
    spans: tuple[Span, ...]
    server_side: bool  # one span the server copies; otherwise the registry reads and sends them


def part_size_for(base: int, number: int) -> int:
    """Parts grow every thousand, so a stream of unknown length stays under 10,000 parts."""
    return min(base << ((number - 1) // 1000), MAX_PART)


def split(key: str, start: int, end: int, chunk: int) -> list[Span]:
    """[start, end) in spans of `chunk`; a short tail joins the span before it."""
    spans = []
    while end - start > chunk and end - start - chunk >= MIN_PART:
        spans.append(Span(key, start, start + chunk))
        start += chunk
    return [*spans, Span(key, start, end)]


def plan_parts(
    objects: Sequence[tuple[str, int]], part_size: int, copy_part: int = COPY_PART
) -> list[PlannedPart]:
    """Multipart parts that concatenate `objects` (key, size), copying all it can server-side."""
    parts: list[PlannedPart] = []
    pending: list[Span] = []
    held = 0
    for key, size in objects:
        start = 0
        if not size:
            continue
        if pending:  # top the short run up from this object, through the registry
            wanted = part_size_for(part_size, len(parts) + 1) - held
            start = min(size, wanted)
            pending.append(Span(key, 0, start))
            held += start
            if start == wanted:
                parts.append(PlannedPart(tuple(pending), server_side=False))
                pending, held = [], 0
        if size - start >= MIN_PART and not pending:
            parts.extend(PlannedPart((s,), True) for s in split(key, start, size, copy_part))
        elif size > start:
            pending.append(Span(key, start, size))
            held += size - start
    if pending:
        parts.append(PlannedPart(tuple(pending), server_side=False))
    return parts
