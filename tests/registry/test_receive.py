"""The request middleware's receive is safe to cancel, whatever the server's is: granian's
drops the message it was fetching when its wait is cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.types import Message

from registry.observe import Exchange

BODY = [b"one", b"two", b"three"]


def lossy_receive() -> Callable[[], Awaitable[Message]]:
    """A server's receive that takes its message at once and hands it over a moment later;
    cancelled in between, the message is gone."""
    messages: list[Message] = [
        {"type": "http.request", "body": part, "more_body": n < len(BODY) - 1}
        for n, part in enumerate(BODY)
    ]

    async def receive() -> Message:
        message = messages.pop(0)
        await asyncio.sleep(0.01)
        return message

    return receive


async def test_a_cancelled_wait_loses_no_part_of_the_body() -> None:
    receive = lossy_receive()
    scope = {"type": "http", "http_version": "1.1", "headers": [(b"content-length", b"11")]}
    tracked = Exchange(scope, "id").tracking(receive)
    waiting = asyncio.ensure_future(tracked())
    await asyncio.sleep(0.001)
    waiting.cancel()  # as a cancelled upload ends the wait for its client's bytes
    got = [(await tracked())["body"] for _ in BODY]
    assert got == BODY
