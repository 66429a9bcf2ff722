"""How S3 multipart parts are planned: what the server copies, what passes through us."""

from __future__ import annotations

import pytest

from storage.s3_plan import MAX_PART, MIN_PART, PlannedPart, Span, part_size_for, plan_parts, split

M = 1024 * 1024
PART = 8 * M


def copy(key: str, start: int, end: int) -> PlannedPart:
    return PlannedPart((Span(key, start, end),), server_side=True)


def send(*spans: tuple[str, int, int]) -> PlannedPart:
    return PlannedPart(tuple(Span(*span) for span in spans), server_side=False)


@pytest.mark.parametrize(
    ("objects", "parts"),
    [
        pytest.param([], [], id="nothing"),
        pytest.param([("a", 10)], [send(("a", 0, 10))], id="one-small"),
        pytest.param([("a", 6 * M)], [copy("a", 0, 6 * M)], id="one-large-copied"),
        pytest.param(
            [("a", 10), ("b", 20), ("c", 30)],
            [send(("a", 0, 10), ("b", 0, 20), ("c", 0, 30))],
            id="small-run-sent-once",
        ),
        pytest.param(
            [("a", 6 * M), ("b", 7 * M), ("c", 10)],
            [copy("a", 0, 6 * M), copy("b", 0, 7 * M), send(("c", 0, 10))],
            id="large-then-small-tail",
        ),
        pytest.param(
            [("a", 10), ("b", 20 * M)],
            [send(("a", 0, 10), ("b", 0, PART - 10)), copy("b", PART - 10, 20 * M)],
            id="small-topped-up-from-large",
        ),
        pytest.param(
            [("a", 3 * M), ("b", PART - 3 * M + 4 * M)],
            [send(("a", 0, 3 * M), ("b", 0, PART - 3 * M)), send(("b", PART - 3 * M, PART + M))],
            id="short-rest-sent",
        ),
        pytest.param(
            [("a", 3 * M), ("b", 2 * M), ("c", 0), ("d", 6 * M)],
            [send(("a", 0, 3 * M), ("b", 0, 2 * M), ("d", 0, 3 * M)), send(("d", 3 * M, 6 * M))],
            id="empty-object-skipped",
        ),
    ],
)
def test_plan_parts(objects: list[tuple[str, int]], parts: list[PlannedPart]) -> None:
    assert plan_parts(objects, PART) == parts


@pytest.mark.parametrize(
    "sizes",
    [
        pytest.param([1] * 5000 + [6 * M] + [3] * 7, id="many-tiny"),
        pytest.param([5 * M, 1, 5 * M, 1, 30 * M, 4 * M - 1], id="alternating"),
        pytest.param([MIN_PART - 1, MIN_PART + 1, MIN_PART - 1], id="around-minimum"),
    ],
)
def test_planned_parts_meet_s3_limits(sizes: list[int]) -> None:
    objects = [(f"k{n}", size) for n, size in enumerate(sizes)]
    parts = plan_parts(objects, MIN_PART, copy_part=6 * M)
    covered = [span for part in parts for span in part.spans]
    assert [(s.key, s.start) for s in covered if s.start == 0] == [(k, 0) for k, n in objects if n]
    assert sum(span.size for span in covered) == sum(sizes)
    for part in parts[:-1]:
        assert MIN_PART <= sum(span.size for span in part.spans) <= MAX_PART
    assert all(len(part.spans) == 1 for part in parts if part.server_side)


@pytest.mark.parametrize(
    ("size", "chunk", "spans"),
    [
        pytest.param(10 * M, 10 * M, [(0, 10 * M)], id="fits"),
        pytest.param(
            20 * M, 6 * M, [(0, 6 * M), (6 * M, 12 * M), (12 * M, 20 * M)], id="tail-joins"
        ),
        pytest.param(18 * M, 6 * M, [(0, 6 * M), (6 * M, 12 * M), (12 * M, 18 * M)], id="even"),
    ],
)
def test_split(size: int, chunk: int, spans: list[tuple[int, int]]) -> None:
    assert split("k", 0, size, chunk) == [Span("k", a, b) for a, b in spans]


def test_parts_grow_so_ten_thousand_cover_large_streams() -> None:
    assert [part_size_for(PART, n) for n in (1, 1000, 1001, 2001)] == [
        PART,
        PART,
        2 * PART,
        4 * PART,
    ]
    assert sum(part_size_for(5 * M, n) for n in range(1, 10_001)) > 1024**4  # over a TiB
    assert part_size_for(PART, 10_000) <= part_size_for(1024 * M, 10_000) == MAX_PART
