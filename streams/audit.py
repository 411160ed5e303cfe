"""The audit writer: links each audit record into its partition's hash chain and appends it.

One writer per chain. ``hub.audit`` has as many partitions as ``hub.dossier.events`` and the
orchestrator writes each audit record to the partition number of the event that caused it, so
the task that owns dossier partition p is the only writer of audit partition p (the records are
keyed by dossier code too, and the default partitioner, murmur2 of the key modulo the partition
count, puts a key on the same partition number of both topics).

The head of a chain is never carried across a rebalance or a restart: the first time a
partition is written after an assignment, its head is read from the last entry on the log, after
flushing this worker's own pending sends. An event redelivered after a crash (at-least-once) is
then audited again *after* what its first processing appended: a record may appear twice, the
chain never forks.

Every ``checkpoint_every`` entries, and on a timer for partitions with unsigned entries, a
checkpoint signed with the hub's signing key is appended (``contracts.audit``); a writer that
finds an unsigned tail signs at its first write, so no run of entries is longer than that.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.audit import Head, Signer, checkpoint_body, head_after, link
from streams import delivery

if TYPE_CHECKING:
    from streams.app import Hub
    from streams.settings import ClusterSettings

log = structlog.get_logger("lienthong.audit")

PartitionSend = Callable[[int, bytes | None, bytes], Awaitable[None]]
"""Writes one audit entry: (partition, key, value)."""
LastEntry = Callable[[int], Awaitable[bytes | None]]
"""The value of the last record on an audit partition (None: the partition is empty)."""


@dataclass
class _Chain:
    head: Head
    unsigned: int  # entries since the last checkpoint


class AuditLog:
    """Appends audit records to the chain of their partition; sends are injected."""

    def __init__(
        self, send: PartitionSend, last: LastEntry, sign: Signer, now: Callable[[], datetime], checkpoint_every: int
    ) -> None:
        self._send, self._last, self._sign, self._now, self._every = send, last, sign, now, checkpoint_every
        self._chains: dict[int, _Chain] = {}
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def append(self, partition: int, key: bytes, records: Sequence[bytes]) -> None:
        """Link one entry of ``records`` (AuditRecord JSON, what one event caused) after the
        partition's head; checkpoint when due."""
        async with self._locks[partition]:
            chain = await self._chain(partition)
            body = {"kind": "exchanges", "exchanges": [json.loads(record) for record in records]}
            await self._write(partition, chain, key, body)
            if chain.unsigned >= self._every:
                await self._checkpoint(partition, chain)

    async def checkpoint(self) -> None:
        """Sign the head of every partition written since its last checkpoint."""
        for partition in list(self._chains):
            async with self._locks[partition]:
                chain = self._chains.get(partition)
                if chain is not None and chain.unsigned:
                    await self._checkpoint(partition, chain)

    def forget(self) -> None:
        """Drop every head (partitions are being reassigned): the next write reads the log."""
        self._chains.clear()

    async def _chain(self, partition: int) -> _Chain:
        if (chain := self._chains.get(partition)) is None:
            last = await self._last(partition)
            if last is None:
                chain = _Chain(Head(), 0)
            else:
                entry = json.loads(last)
                # unsure how many entries the last checkpoint is behind: sign at the first write
                chain = _Chain(head_after(entry), 0 if entry["kind"] == "checkpoint" else self._every)
            log.info("audit chain head read from the log", partition=partition, seq=chain.head.seq)
            self._chains[partition] = chain
        return chain

    async def _checkpoint(self, partition: int, chain: _Chain) -> None:
        await self._write(partition, chain, None, checkpoint_body(partition, chain.head, self._now(), self._sign))
        chain.unsigned = 0

    async def _write(self, partition: int, chain: _Chain, key: bytes | None, body: dict[str, Any]) -> None:
        entry = link(body, chain.head)
        await self._send(partition, key, json.dumps(entry, ensure_ascii=False).encode())
        chain.head = head_after(entry)
        chain.unsigned += 1


async def last_entry(consumer: AIOKafkaConsumer, topic: str, partition: int, timeout_s: float = 30) -> bytes | None:
    """The value of the last record on ``topic``'s ``partition`` (None when it has none)."""
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    end = (await consumer.end_offsets([tp]))[tp]
    if end == 0:
        return None
    consumer.seek(tp, end - 1)
    records = await consumer.getmany(tp, timeout_ms=int(timeout_s * 1000))
    if not records.get(tp):
        raise TimeoutError(f"could not read offset {end - 1} of {topic}[{partition}] in {timeout_s:.0f}s")
    return records[tp][-1].value


def audit_consumer(settings: ClusterSettings) -> AIOKafkaConsumer:
    """A group-less consumer for reading audit partitions, with this process's credentials."""
    return AIOKafkaConsumer(**settings.kafka_client().aiokafka(), group_id=None, enable_auto_commit=False)


def register(hub: Hub) -> AuditLog:
    """The worker's audit writer: heads dropped on every rebalance, signed on a timer too."""
    settings, topic = hub.settings, hub.topics.audit

    async def send(partition: int, key: bytes | None, value: bytes) -> None:
        delivery.track(await hub.topic(topic).send(key=key, value=value, partition=partition, headers=[]))

    async def last(partition: int) -> bytes | None:
        await hub.app.producer.flush()  # what this worker wrote before a rebalance is on the log
        consumer = audit_consumer(settings)
        await consumer.start()
        try:
            return await last_entry(consumer, topic, partition)
        finally:
            await consumer.stop()

    def sign(data: bytes) -> tuple[str, bytes]:
        return hub.signer.key_id, hub.signer.key.sign(data)

    audit = AuditLog(send, last, sign, hub.clock.now, settings.audit_checkpoint_every)

    async def on_revoked(*_: Any, **__: Any) -> None:
        audit.forget()

    async def checkpoint() -> None:
        if not hub.app.rebalancing:
            await audit.checkpoint()

    hub.app.on_partitions_revoked.connect(on_revoked)
    hub.app.timer(interval=settings.audit_checkpoint_interval_s, on_leader=False, name="audit-checkpoint")(checkpoint)
    return audit
