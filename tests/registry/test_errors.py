"""The one OCI error table: each exception maps to its own row, whatever the row order."""

from __future__ import annotations

import pytest

from registry import errors
from storage import errors as storage_errors


def instance(kind: type[Exception]) -> Exception:
    if kind is storage_errors.RangeInvalid:
        return kind(5)
    if kind is errors.RangeNotSatisfiable:
        return kind(10)
    if kind is errors.Unauthorized:
        return kind("Basic")
    if kind is errors.TooManyFailures:
        return kind(30)
    if kind is storage_errors.PolicyDenied:
        return kind("immutable_tags rule 1")
    return kind()


@pytest.mark.parametrize(
    ("kind", "code", "status"),
    [pytest.param(*row, id=row[0].__name__) for row in errors.ERRORS],
)
def test_each_exception_gets_its_own_row(kind: type[Exception], code: str, status: int) -> None:
    assert errors.lookup(instance(kind)) == (code, status)
    assert code in errors.MESSAGES


def test_a_subclass_without_a_row_takes_its_parents() -> None:
    class Stranger(storage_errors.BlobUnknown):
        pass

    assert errors.lookup(Stranger()) == ("BLOB_UNKNOWN", 404)


def test_an_unknown_exception_is_not_swallowed() -> None:
    with pytest.raises(KeyError):
        errors.lookup(KeyError("x"))


def test_a_policy_refusal_says_which_rule_in_its_message() -> None:
    refused = storage_errors.QuotaExceeded("quota 2 exceeded by 5 bytes", {"over": 5})
    assert errors.lookup(refused) == ("DENIED", 403)
    body = errors.error_body("DENIED", refused.detail, refused.message)
    assert body["errors"][0]["message"] == "quota 2 exceeded by 5 bytes"
