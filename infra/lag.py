"""How far a consumer group is behind on every hub topic (for diagnosing a stalled hub)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from connectors.kafka_client import KafkaClient
from contracts.topics import Topics
from infra.topics import partitions_of


async def lag_report(client: KafkaClient, group: str, topics: Topics) -> list[tuple[str, int, int]]:
    """(topic, messages written, messages the group has committed) for every declared topic."""
    admin = AIOKafkaAdminClient(**client.aiokafka())
    consumer = AIOKafkaConsumer(**client.aiokafka(), group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        rows = []
        for spec in topics.specs():
            tps = await partitions_of(consumer, spec.name)
            ends = await consumer.end_offsets(tps)
            done = sum(committed[tp].offset for tp in tps if tp in committed and committed[tp].offset >= 0)
            rows.append((spec.name, sum(ends.values()), done))
        return rows
    finally:
        await consumer.stop()
        await admin.close()
