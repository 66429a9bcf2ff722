"""Where things live in an object store, one pure function per kind of key.

<root>/
├── blobs/blake3/<first 2 hex>/<64 hex>     every blob, once, by its BLAKE3 digest
├── probes/<random hex>                     written and deleted again by the start-up checks
├── quarantine/<64 hex>[.<n>]               bytes that no longer hash to their key, kept aside
└── uploads/<upload id>/
    ├── data                                an upload in progress (stores that append)
    └── parts/<offset, 20 digits>           one object per chunk (stores that cannot: S3)
<root>/quarantine/...                         corrupt bytes set aside by a scrub (gc never
                                            touches it)
"""

from __future__ import annotations

BLOBS = "blobs"
UPLOADS = "uploads"
_BLOB_PREFIX = f"{BLOBS}/blake3/"
BLOB_TREE = BLOBS


def blob_key(blake3_hex: str) -> str:
    return f"{_BLOB_PREFIX}{blake3_hex[:2]}/{blake3_hex}"


def blob_hex(key: str) -> str | None:
    """The BLAKE3 hex of a blob key; None for any other key (a temp file beside one)."""
    hex_key = key.rpartition("/")[2]
    return hex_key if key == blob_key(hex_key) and len(hex_key) == 64 else None


def quarantine_key(blake3_hex: str, attempt: int = 0) -> str:
    """Where corrupt bytes are set aside; `attempt` numbers a second one of the same key."""
    suffix = f".{attempt}" if attempt else ""
    return f"quarantine/{blake3_hex}{suffix}"


def upload_dir(upload_id: str) -> str:
    return f"{UPLOADS}/{upload_id}"


def upload_id_of(key: str) -> str | None:
    """The upload id of a key under uploads/<id>/; None for others."""
    top, _, rest = key.partition("/")
    upload_id = rest.partition("/")[0]
    return upload_id if top == UPLOADS and rest and "/" in rest else None


def upload_key(upload_id: str) -> str:
    return f"{upload_dir(upload_id)}/data"


def upload_part_key(upload_id: str, offset: int) -> str:
    return f"{upload_dir(upload_id)}/parts/{offset:020d}"


def probe_key(token: str) -> str:
    return f"probes/{token}"
