"""Inspect the dead-letter topic and replay records to the topic they came from, byte for byte."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaProducer, TopicPartition

from connectors.kafka_client import KafkaClient, partition_for
from contracts.topics import DLQ_HEADER_PREFIX, Topics, dlq_fields
from infra.topics import existing_partitions, reader


@dataclass(frozen=True)
class StoredLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]  # the lienthong.dlq.* headers, prefix removed: why and where from
    original_headers: list[tuple[str, bytes]]  # the record's own (content type, signature)


async def read_all(client: KafkaClient, topics: Topics, key: bytes | None = None) -> list[StoredLetter]:
    """Every record now on the dead-letter topic (or only those keyed ``key``, read from their
    partition alone: a letter keeps its original key), oldest first per partition."""
    consumer = reader(client)
    await consumer.start()
    try:
        tps = await existing_partitions(consumer, topics.deadletter)
        if key is not None:
            tps = [TopicPartition(topics.deadletter, partition_for(key, len(tps)))]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        letters: list[StoredLetter] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                letters += [
                    StoredLetter(
                        tp.partition,
                        r.offset,
                        r.key,
                        r.value,
                        dlq_fields(r.headers),
                        [(k, v) for k, v in r.headers if not k.startswith(DLQ_HEADER_PREFIX)],
                    )
                    for r in records
                    if key is None or r.key == key
                ]
        return letters
    finally:
        await consumer.stop()


async def replay(client: KafkaClient, letters: list[StoredLetter]) -> int:
    """Produce each letter's original key, value and headers to its source topic; returns how many.

    The original signature travels with it, so ingest verifies the replay as it did the original:
    a letter signed longer ago than the hub's signature window is refused again as ``stale``
    (the sender must send it anew)."""
    producer = AIOKafkaProducer(**client.aiokafka(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for letter in letters:
            await producer.send(
                letter.headers["topic"],
                key=letter.key,
                value=letter.value,
                headers=[
                    *letter.original_headers,
                    ("lienthong.replayed-from", f"{letter.partition}:{letter.offset}".encode()),
                ],
            )
        await producer.flush()
    finally:
        await producer.stop()
    return len(letters)
