"""Intakes: ending one stops its reader at once with BlobUploadUnknown, while any other
cancellation of the reader (a server shutting down) still goes through as a cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from storage.errors import BlobUploadUnknown
from storage.intake import Intake, Intakes


class Client:
    """Sends one chunk, then waits for more that never comes."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()

    async def chunks(self) -> AsyncIterator[bytes]:
        yield b"first"
        self.waiting.set()
        await asyncio.Event().wait()
        yield b"never"


async def read_all(intake: Intake) -> list[bytes]:
    return [chunk async for chunk in intake]


async def test_ending_stops_a_reader_waiting_for_the_client() -> None:
    client, intakes = Client(), Intakes()
    with intakes.open("one", client.chunks()) as intake:
        reader = asyncio.create_task(read_all(intake))
        await client.waiting.wait()
        intakes.end("one")
        with pytest.raises(BlobUploadUnknown):
            await reader
    assert reader.cancelling() == 0


async def test_an_intake_ended_before_it_is_read_is_refused_at_once() -> None:
    intakes = Intakes()
    with intakes.open("one", Client().chunks()) as intake, intakes.open("two", None) as other:
        intakes.end("one")
        intakes.end("one")
        with pytest.raises(BlobUploadUnknown):
            intake.check()
        with pytest.raises(BlobUploadUnknown):
            await read_all(intake)
        assert await read_all(other) == []


@pytest.mark.parametrize("ended", [pytest.param(False, id="alone"), pytest.param(True, id="ended")])
async def test_another_cancellation_goes_through(ended: bool) -> None:
    client, intakes = Client(), Intakes()
    with intakes.open("one", client.chunks()) as intake:
        reader = asyncio.create_task(read_all(intake))
        await client.waiting.wait()
        reader.cancel()
        if ended:
            intakes.end("one")
        with pytest.raises(asyncio.CancelledError):
            await reader
