"""Acked means durable: an event is acked only once every record it caused is on the broker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams import delivery
from streams.delivery import Deliveries, InOrderAcks, track


class Stream:
    def __init__(self) -> None:
        self.acked: list[str] = []

    async def ack(self, event: Any) -> bool:
        self.acked.append(event)
        return True


async def handled(acks: InOrderAcks, event: str, *deliveries: asyncio.Future[object]) -> None:
    with Deliveries() as caused:
        for sent in deliveries:
            track(sent)
    acks.ack_when_delivered(event, caused, {"agent": "test", "offset": event})  # type: ignore[arg-type]


async def test_events_are_acked_in_order_each_once_its_records_are_delivered():
    loop, stream = asyncio.get_running_loop(), Stream()
    acks = InOrderAcks(stream, settle_s=60)  # type: ignore[arg-type]
    task = asyncio.ensure_future(acks.run())
    first, second = loop.create_future(), loop.create_future()
    await handled(acks, "a", first)
    await handled(acks, "b", second)
    await handled(acks, "c")  # caused nothing
    second.set_result(None)
    await asyncio.sleep(0.01)
    assert stream.acked == []  # b is delivered, but a is not yet
    first.set_result(None)
    await asyncio.sleep(0.01)
    assert stream.acked == ["a", "b", "c"]
    task.cancel()


@pytest.mark.parametrize("settle_s", [60, 0.05])
async def test_a_failed_or_wedged_delivery_stops_the_worker_without_acking(monkeypatch, settle_s):
    exits: list[int] = []

    def exit_now(code: int) -> None:  # os._exit never returns: neither does the task that calls it
        exits.append(code)
        raise asyncio.CancelledError

    monkeypatch.setattr(delivery.os, "_exit", exit_now)
    loop, stream = asyncio.get_running_loop(), Stream()
    acks = InOrderAcks(stream, settle_s=settle_s)  # type: ignore[arg-type]
    tasks = [asyncio.ensure_future(acks.run()), asyncio.ensure_future(acks.watch())]
    sent = loop.create_future()
    await handled(acks, "a", sent)
    if settle_s == 60:
        sent.set_exception(OSError("broker gone"))
    await asyncio.sleep(0.2)
    assert exits == [delivery.EXIT_UNDELIVERABLE] and stream.acked == []
    for task in tasks:
        task.cancel()
