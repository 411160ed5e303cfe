"""How far a consumer group is behind on every hub topic (for diagnosing a stalled hub)."""

from __future__ import annotations

from types import TracebackType

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from connectors.kafka_client import KafkaClient
from contracts.topics import Topics
from infra.topics import partitions_of


class LagReader:
    """Reads a group's backlog over one admin client and one consumer, kept open between reads
    (each opening costs a TLS handshake and a SASL login), until closed."""

    def __init__(self, client: KafkaClient, group: str, topics: Topics) -> None:
        self.group, self.topics = group, topics
        self._admin = AIOKafkaAdminClient(**client.aiokafka())
        self._consumer = AIOKafkaConsumer(**client.aiokafka(), group_id=None)

    async def __aenter__(self) -> LagReader:
        await self._admin.start()
        try:
            await self._consumer.start()
        except BaseException:
            await self._admin.close()
            raise
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        try:
            await self._consumer.stop()
        finally:
            await self._admin.close()

    async def report(self) -> list[tuple[str, int, int]]:
        """(topic, messages written, messages the group has committed) for every declared topic."""
        committed = await self._admin.list_consumer_group_offsets(self.group)
        rows = []
        for spec in self.topics.specs():
            tps = await partitions_of(self._consumer, spec.name)
            ends = await self._consumer.end_offsets(tps)
            done = sum(committed[tp].offset for tp in tps if tp in committed and committed[tp].offset >= 0)
            rows.append((spec.name, sum(ends.values()), done))
        return rows


async def lag_report(client: KafkaClient, group: str, topics: Topics) -> list[tuple[str, int, int]]:
    """One :meth:`LagReader.report`, its clients opened and closed around it."""
    async with LagReader(client, group, topics) as reader:
        return await reader.report()
