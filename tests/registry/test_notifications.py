"""Sinks from [[notifications]] tables (what they accept and refuse, what they want), the
envelopes they receive, and the settings' checks at load."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from registry.config import ConfigError, load
from registry.notifications.envelope import cloudevent_body, distribution_event, event_id
from registry.notifications.sinks import parse_sinks
from storage.events import Event, encode_payload

URL = "http://127.0.0.1:9/hook"


def sink_table(**values: Any) -> dict[str, Any]:
    return {"name": "hook", "url": URL, **values}


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        pytest.param([{"url": URL}], "needs a name", id="no-name"),
        pytest.param([sink_table(url="ftp://x")], "url must be", id="scheme"),
        pytest.param([sink_table(actions=["push", "tag"])], "actions must be", id="action"),
        pytest.param([sink_table(actions="push")], "actions must be", id="actions-string"),
        pytest.param([sink_table(repositories=[1])], "repositories", id="globs"),
        pytest.param([sink_table(headers={"X": 1})], "headers", id="header-value"),
        pytest.param([sink_table(timeout="0s")], "longer than 0s", id="zero-timeout"),
        pytest.param([sink_table(backoff="soon")], "duration", id="bad-duration"),
        pytest.param([sink_table(format="xml")], "format must be", id="format"),
        pytest.param([sink_table(retries=3)], "unknown keys retries", id="unknown-key"),
        pytest.param([sink_table(), sink_table()], "more than one sink named hook", id="dup"),
    ],
)
def test_bad_sinks_are_refused(tables: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_sinks(tables)


def test_defaults_and_filters() -> None:
    (default,) = parse_sinks([sink_table()])
    assert default.actions == {"push", "delete", "mount"}
    assert (default.timeout, default.backoff, default.backoff_max) == (5, 1, 300)
    assert [default.wait_after(n) for n in (1, 2, 3, 10, 40)] == [1, 2, 4, 300, 300]
    (narrow,) = parse_sinks([sink_table(actions=["delete", "pull"], repositories=["team/*"])])
    wants = [
        ({"action": "manifest.delete", "repository": "team/app"}, True),
        ({"action": "blob.pull", "repository": "team/app"}, True),
        ({"action": "tag.push", "repository": "team/app"}, False),
        ({"action": "tag.delete", "repository": "team/app/deeper"}, False),
        ({"action": "tag.delete", "repository": "other/app"}, False),
    ]
    assert [narrow.wants(fields) for fields, _ in wants] == [want for _, want in wants]


def event(seq: int, **fields: Any) -> Event:
    time = datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)
    return Event(seq, encode_payload({"time": time, "actor": "alice@10.0.0.1", **fields}))


def test_distribution_event_shape() -> None:
    request = {"id": "r-1", "addr": "10.0.0.1", "host": "reg", "method": "PUT", "useragent": "x"}
    tag = event(
        7,
        action="tag.push",
        repository="team/app",
        tag="v1",
        digest="sha256:" + "a" * 64,
        media_type="application/vnd.oci.image.manifest.v1+json",
        size=512,
        request=request,
    )
    assert distribution_event(tag) == {
        "id": event_id(tag),
        "timestamp": "2026-12-01T10:00:00.123456Z",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + "a" * 64,
            "size": 512,
            "length": 512,
            "repository": "team/app",
            "tag": "v1",
        },
        "request": request,
        "actor": {"name": "alice"},
    }
    mount = distribution_event(event(8, action="blob.mount", repository="b", source="a"))
    assert mount["target"]["fromRepository"] == "a"
    assert mount["target"]["mediaType"] == "application/octet-stream"
    anonymous = event(9, action="blob.delete", repository="b", actor="anonymous@10.0.0.2")
    assert distribution_event(anonymous)["actor"] == {}


def test_event_ids_are_stable_and_distinct() -> None:
    one = event(1, action="blob.push", repository="r")
    assert event_id(one) == event_id(Event(1, one.payload))
    assert event_id(one) != event_id(Event(2, one.payload))
    assert event_id(one) != event_id(event(1, action="blob.push", repository="s"))


def test_cloudevent_shape() -> None:
    body = json.loads(cloudevent_body(event(3, action="manifest.push", repository="r", digest="d")))
    assert {k: body[k] for k in ("specversion", "type", "source", "subject")} == {
        "specversion": "1.0",
        "type": "artifact-store.manifest.push",
        "source": "/v2/r",
        "subject": "d",
    }
    assert body["data"]["target"]["digest"] == "d"


def test_sinks_are_checked_when_the_settings_load(tmp_path: Path) -> None:
    path = tmp_path / "artifact-store.toml"
    path.write_text('[[notifications]]\nname = "x"\nurl = "ftp://nope"\n')
    with pytest.raises(ConfigError, match="url must be"):
        load(path, {}, {})
    path.write_text(f'[[notifications]]\nname = "x"\nurl = "{URL}"\n')
    assert load(path, {}, {}).notifications == ({"name": "x", "url": URL},)
