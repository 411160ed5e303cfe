"""Acked means durable: an event is acked only once every record it caused is on the broker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams import delivery
from streams.delivery import CoalescedChangelog, Deliveries, InOrderAcks, track


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


class Table:
    """A table's copy and its changelog writes, each settled by the test."""

    def __init__(self) -> None:
        self.data: dict[str, int] = {}
        self.written: list[tuple[int, str, int]] = []
        self.deliveries: list[asyncio.Future[object]] = []

    def send_changelog(self, partition: int, key: str, value: int) -> asyncio.Future[object]:
        self.written.append((partition, key, value))
        self.deliveries.append(asyncio.get_running_loop().create_future())
        return self.deliveries[-1]


async def changed(acks: InOrderAcks, log: CoalescedChangelog, event: str, key: str, value: int) -> None:
    with Deliveries() as caused:
        log.put(key, value, partition=len(key))
    acks.ack_when_delivered(event, caused, {"agent": "test", "offset": event})  # type: ignore[arg-type]


async def test_a_burst_of_changes_writes_each_key_once_and_acks_the_events_once_that_is_delivered():
    stream, table = Stream(), Table()
    acks = InOrderAcks(stream, settle_s=60)  # type: ignore[arg-type]
    task = asyncio.ensure_future(acks.run())
    log = CoalescedChangelog(table, every_s=0.05)  # type: ignore[arg-type]
    await changed(acks, log, "a", "population", 1)
    await changed(acks, log, "b", "tax", 1)
    await changed(acks, log, "c", "population", 2)
    assert table.data == {"population": 2, "tax": 1}  # read back at once
    await asyncio.sleep(0.1)
    assert sorted(table.written) == [(3, "tax", 1), (10, "population", 2)]
    assert stream.acked == []  # written, not yet delivered
    for sent in table.deliveries:
        sent.set_result(None)
    await asyncio.sleep(0.01)
    assert stream.acked == ["a", "b", "c"]
    await changed(acks, log, "d", "tax", 2)  # the next burst, the next write
    await asyncio.sleep(0.1)
    assert table.written[2:] == [(3, "tax", 2)]
    task.cancel()


async def test_a_failed_coalesced_write_stops_the_worker_without_acking(monkeypatch):
    exits: list[int] = []

    def exit_now(code: int) -> None:
        exits.append(code)
        raise asyncio.CancelledError

    monkeypatch.setattr(delivery.os, "_exit", exit_now)
    stream, table = Stream(), Table()
    acks = InOrderAcks(stream, settle_s=60)  # type: ignore[arg-type]
    task = asyncio.ensure_future(acks.run())
    await changed(acks, CoalescedChangelog(table, every_s=0.01), "a", "population", 1)  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    table.deliveries[0].set_exception(OSError("broker gone"))
    await asyncio.sleep(0.05)
    assert exits == [delivery.EXIT_UNDELIVERABLE] and stream.acked == []
    task.cancel()
