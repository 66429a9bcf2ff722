"""What a sink receives: distribution's notification envelope, or CloudEvents.

distribution (`application/vnd.docker.distribution.events.v1+json`): one POST
carries `{"events": [...]}`, each event with `id`, `timestamp`, `action` (push,
delete, mount, pull), `target` (mediaType, digest, size, length, repository, tag,
fromRepository for a mount), `request` (id, addr, host, method, useragent) and
`actor` (name), the shape existing consumers of distribution's webhooks read.

CloudEvents 1.0, structured mode (`application/cloudevents+json`): one POST per
event; `type` is `artifact-store.<action>` (`artifact-store.manifest.push`),
`source` the repository's path, `subject` its tag or digest, `data` the
distribution event above.

An event's `id` derives from its place in the log and its bytes, so a delivery made
again after a crash carries the ids it had the first time: receivers drop
duplicates by id.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from registry.notifications.sinks import KINDS
from storage.events import Event, rfc3339

DISTRIBUTION = "application/vnd.docker.distribution.events.v1+json"
CLOUDEVENTS = "application/cloudevents+json"
_IDS = uuid.UUID("2f6f9e0c-4a51-4d57-9a8e-0c1b7a3e5d11")  # namespace of event ids
BLOB_MEDIA_TYPE = "application/octet-stream"


def event_id(event: Event) -> str:
    return str(uuid.uuid5(_IDS, f"{event.seq}:{hashlib.sha256(event.payload).hexdigest()}"))


def distribution_body(batch: Sequence[Event]) -> bytes:
    return _json({"events": [distribution_event(event) for event in batch]})


def cloudevent_body(event: Event) -> bytes:
    fields = event.fields()
    reference = fields.get("tag") or fields.get("digest")
    return _json(
        {
            "specversion": "1.0",
            "id": event_id(event),
            "type": f"artifact-store.{fields['action']}",
            "source": f"/v2/{fields.get('repository') or ''}",
            "subject": reference,
            "time": rfc3339(fields["time"]),
            "datacontenttype": "application/json",
            "data": distribution_event(event),
        }
    )


def distribution_event(event: Event) -> dict[str, Any]:
    fields = event.fields()
    return {
        "id": event_id(event),
        "timestamp": rfc3339(fields["time"]),
        "action": KINDS[fields["action"]],
        "target": _target(fields),
        "request": fields.get("request", {}),
        "actor": _actor(fields.get("actor", "")),
    }


def _target(fields: dict[str, Any]) -> dict[str, Any]:
    action: str = fields["action"]
    media_type = fields.get("media_type")
    if media_type is None and action.startswith("blob.") and not action.endswith(".delete"):
        media_type = BLOB_MEDIA_TYPE
    target = {
        "mediaType": media_type,
        "digest": fields.get("digest"),
        "size": fields.get("size"),
        "length": fields.get("size"),
        "repository": fields.get("repository"),
        "tag": fields.get("tag"),
        "fromRepository": fields.get("source"),
    }
    return {key: value for key, value in target.items() if value is not None}


def _actor(actor: str) -> dict[str, str]:
    """Our actor is "user@address" (or "anonymous@address"); distribution's is the user."""
    name = actor.rpartition("@")[0] if "@" in actor else actor
    return {} if name in ("", "anonymous") else {"name": name}


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
