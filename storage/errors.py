"""Domain errors raised by storage; registry/errors.py maps each to one OCI error.

StorageError
├── BlobUnknown            the digest is not readable from the repository
│   └── BlobCorrupt        its stored bytes no longer hash to its key (now quarantined)
├── BlobIsManifest         a blob DELETE names a manifest of the repository
├── BlobUploadUnknown      no such upload session in the repository
├── BlobUploadInvalid      a bad range, a short body, stored chunks missing
│   └── RangeInvalid       a chunk that does not start where the session ends
├── DigestMismatch         the bytes do not hash to the digest the client gave
├── ManifestUnknown        no manifest by that tag or digest in the repository
├── ManifestBlobUnknown    a manifest references content the repository lacks
├── NameUnknown            the repository does not exist
├── PolicyDenied           an immutable tag, a quota: the message names the rule
│   └── QuotaExceeded      the push would take a quota over its limit
├── TooManyUploads         the repository has as many open upload sessions as allowed
├── SchemaError            the metadata schema cannot be read or brought up to date
└── Unavailable            a backend (database, object store) cannot be reached
    ├── BlobSwept          gc is deleting this content right now: push it again
    ├── CredentialsRefused the backend refuses this registry's credentials
    └── StoreMissing       the bucket or database the settings name does not exist
"""

from __future__ import annotations


class StorageError(Exception):
    def __init__(self, detail: object = None) -> None:
        super().__init__(detail)
        self.detail = detail


class BlobUnknown(StorageError):
    pass


class BlobIsManifest(StorageError):
    """Manifests are deleted through the manifest endpoint, never as blobs: one meaning."""


class BlobCorrupt(BlobUnknown):
    pass


class BlobUploadUnknown(StorageError):
    pass


class BlobUploadInvalid(StorageError):
    pass


class RangeInvalid(BlobUploadInvalid):
    """A chunk that does not start at the session's current offset."""

    def __init__(self, offset: int) -> None:
        super().__init__({"offset": offset})
        self.offset = offset


class DigestMismatch(StorageError):
    pass


class ManifestUnknown(StorageError):
    pass


class ManifestBlobUnknown(StorageError):
    pass


class NameUnknown(StorageError):
    pass


class TooManyUploads(StorageError):
    pass


class Unavailable(StorageError):
    pass


class BlobSwept(Unavailable):
    """The content is being collected (its bytes may be gone): the push that links it
    fails, and a retry uploads the bytes again."""


class CredentialsRefused(Unavailable):
    pass


class StoreMissing(Unavailable):
    pass


class SchemaError(StorageError):
    pass


class PolicyDenied(StorageError):
    """A rule of the registry's policy refuses the change; `message` names the rule."""

    def __init__(self, message: str, detail: object = None) -> None:
        super().__init__(detail)
        self.message = message

    def __str__(self) -> str:
        return self.message


class QuotaExceeded(PolicyDenied):
    pass
