"""Operator tools for the audit log: verify every partition's chain, answer a citizen's request.

Both read ``hub.audit`` from the start of every partition to its current end with a group-less
consumer (:func:`read_audit`), so they neither move a consumer group nor need the hub running.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature

from connectors.kafka_client import KafkaClient
from contracts.agencies import REGISTRY
from contracts.audit import AuditEntry, ChainCheck, Verifier, subject_ref
from contracts.events import AuditRecord
from contracts.record_signing import TrustStore
from infra.topics import existing_partitions, reader

Progress = Callable[[int, int], None]
"""Told (records read, records to read) now and then during a long read."""


@dataclass(frozen=True)
class Stored:
    partition: int
    offset: int
    value: bytes | None


async def read_audit(client: KafkaClient, topic: str, progress: Progress | None = None) -> list[Stored]:
    """Every record now on ``topic``, in offset order per partition."""
    consumer = reader(client)
    await consumer.start()
    try:
        tps = await existing_partitions(consumer, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        starts, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        total = sum(ends[tp] - starts[tp] for tp in tps)
        records: list[Stored] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for tp, batch in (await consumer.getmany(timeout_ms=1000)).items():
                records += [Stored(tp.partition, r.offset, r.value) for r in batch if r.offset < ends[tp]]
            if progress:
                progress(len(records), total)
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


def hub_verifier(keyring: Path) -> Verifier:
    """Checks a checkpoint signature against the trust store, accepting only the hub's keys."""
    trust = TrustStore.load(keyring)

    def verify(key_id: str, data: bytes, signature: bytes) -> bool:
        key = trust.keys.get(key_id) if key_id in REGISTRY.hub.keys else None
        if key is None:
            return False
        try:
            key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    return verify


def verify(records: list[Stored], verifier: Verifier, checkpoint_every: int) -> dict[int, ChainCheck]:
    """Each partition's chain checked: its first problem (if any), entries and checkpoints."""
    checks: dict[int, ChainCheck] = {}
    for record in records:
        check = checks.setdefault(record.partition, ChainCheck(record.partition, verifier, checkpoint_every))
        check.feed(record.offset, record.value)
    return checks


def citizen_exchanges(records: list[Stored], audit_keys: Sequence[bytes], personal_id: str) -> list[AuditRecord]:
    """The audited exchanges whose data names the holder of ``personal_id`` under any of
    ``audit_keys`` (the current key and those it replaced), oldest first."""
    refs = {subject_ref(key, personal_id) for key in audit_keys}
    found = []
    for record in records:
        try:
            entry = AuditEntry.model_validate(json.loads(record.value or b""))
        except ValueError:
            continue  # `lienthong audit verify` names it
        found += [exchange for exchange in entry.exchanges or [] if refs.intersection(exchange.subjects)]
    return sorted(found, key=lambda e: e.at)
