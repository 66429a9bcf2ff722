"""Where things live in an object store, one pure function per kind of key.

<root>/
├── blobs/blake3/<first 2 hex>/<64 hex>     every blob, once, by its BLAKE3 digest
└── uploads/<upload id>/data                bytes of an upload session in progress
"""

from __future__ import annotations


def blob_key(blake3_hex: str) -> str:
    return f"blobs/blake3/{blake3_hex[:2]}/{blake3_hex}"


def upload_key(upload_id: str) -> str:
    return f"uploads/{upload_id}/data"
