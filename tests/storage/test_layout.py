from __future__ import annotations

import pytest

from storage import layout

HEX = "ab" + "0" * 62


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(layout.blob_key(HEX), f"blobs/blake3/ab/{HEX}", id="blob"),
        pytest.param(layout.upload_dir("u1"), "uploads/u1", id="upload-dir"),
        pytest.param(layout.upload_key("u1"), "uploads/u1/data", id="upload-data"),
        pytest.param(
            layout.upload_part_key("u1", 5), "uploads/u1/parts/00000000000000000005", id="part"
        ),
        pytest.param(layout.probe_key("f00d"), "probes/f00d", id="probe"),
        pytest.param(layout.quarantine_key(HEX), f"quarantine/{HEX}", id="quarantine"),
        pytest.param(layout.quarantine_key(HEX, 2), f"quarantine/{HEX}.2", id="quarantine-again"),
    ],
)
def test_keys(key: str, expected: str) -> None:
    assert key == expected


def test_parts_sort_by_offset() -> None:
    offsets = [0, 9, 10, 5 * 1024**3]
    keys = [layout.upload_part_key("u", o) for o in offsets]
    assert sorted(keys) == keys
