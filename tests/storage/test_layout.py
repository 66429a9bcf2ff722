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


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(f"blobs/blake3/ab/{HEX}", HEX, id="blob"),
        pytest.param(f"blobs/blake3/cd/{HEX}", None, id="wrong-directory"),
        pytest.param(f"blobs/blake3/ab/.{HEX}.0123abcd", None, id="temp-file"),
        pytest.param("blobs/blake3/ab/ab12", None, id="short"),
        pytest.param(f"quarantine/{HEX}", None, id="quarantine"),
    ],
)
def test_blob_hex(key: str, expected: str | None) -> None:
    assert layout.blob_hex(key) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param("uploads/u1/data", "u1", id="data"),
        pytest.param("uploads/u1/parts/00000000000000000005", "u1", id="part"),
        pytest.param("uploads/u1", None, id="no-object-under-it"),
        pytest.param("blobs/u1/data", None, id="elsewhere"),
    ],
)
def test_upload_id_of(key: str, expected: str | None) -> None:
    assert layout.upload_id_of(key) == expected
