"""Provision every topic declared in ``contracts.topics`` and the ACLs on them (idempotent)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from connectors.kafka_client import KafkaClient
from contracts.agencies import REGISTRY
from contracts.topics import Topics
from infra.acls import acl_bindings, apply_acls

log = structlog.get_logger("lienthong.topics")


async def provision(admin_client: KafkaClient, topics: Topics, hub_group: str, timeout_s: float = 30) -> list[str]:
    """Create the topics that do not exist yet, wait until every partition has a leader, then grant
    the registry's ACLs on them (:mod:`infra.acls`; ``hub_group`` is the hub's consumer group).
    Needs a super user (the broker's ``admin``); returns the names created."""
    specs = topics.specs()
    admin = AIOKafkaAdminClient(**admin_client.aiokafka(), request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(s.name, s.partitions, topics.replication, topic_configs=s.config) for s in missing]
                )
            except TopicAlreadyExistsError:
                pass  # created concurrently by another provisioner
        for spec in missing:
            log.info("topic created", topic=spec.name, partitions=spec.partitions, purpose=spec.purpose)
        await _wait_for_leaders(admin, [s.name for s in specs], timeout_s)
    finally:
        await admin.close()
    await apply_acls(admin_client, acl_bindings(REGISTRY, topics, hub_group), timeout_s)
    return [s.name for s in missing]


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float) -> None:
    """Clients that start right after creation otherwise log NotLeaderForPartition errors."""
    deadline = time.monotonic() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        leaderless = sorted(
            {t["topic"] for t in described if t["error_code"] or any(p["leader"] < 0 for p in t["partitions"])}
        )
        if not leaderless:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics without a partition leader after {timeout_s:.0f}s: {', '.join(leaderless)}")
        await asyncio.sleep(0.2)


def reader(client: KafkaClient) -> AIOKafkaConsumer:
    """A group-less consumer for reading topics from their start (``seek_to_beginning``).

    Its reset strategy is ``earliest``, not aiokafka's ``latest``: a partition just assigned is
    reset to the default strategy by the fetcher, and a ``seek_to_beginning`` issued while that
    reset is in flight is answered by it (aiokafka's fetcher applies the in-flight reset to a
    partition still awaiting one, whichever strategy it awaits). With ``latest`` the reader then
    starts at the end and reads nothing; this made a test read nothing about once in ten runs."""
    return AIOKafkaConsumer(**client.aiokafka(), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")


class TopicMissing(LookupError):
    """A topic a command reads does not exist (the namespace is wrong, or it was never provisioned)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"topic {name} does not exist; check LIENTHONG_TOPIC_NAMESPACE, or run `lienthong topics`")


async def existing_partitions(consumer: AIOKafkaConsumer, name: str) -> list[TopicPartition]:
    """:func:`partitions_of` a topic that must exist; raises :class:`TopicMissing` otherwise."""
    tps = await partitions_of(consumer, name)
    if not tps:
        raise TopicMissing(name)
    return tps


async def partitions_of(consumer: AIOKafkaConsumer, name: str) -> list[TopicPartition]:
    """The partitions of topic ``name``, fetching metadata first if the consumer lacks it."""
    parts = consumer.partitions_for_topic(name)
    if not parts:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(name) or set()
    return [TopicPartition(name, p) for p in sorted(parts)]


async def read_to_end(
    client: KafkaClient, names: Iterable[str], timeout_s: float = 120
) -> AsyncIterator[ConsumerRecord]:
    """Every record on the topics ``names``, from their start to the end each partition has when
    reading begins; TimeoutError naming the topics if that end is not reached within ``timeout_s``."""
    consumer = reader(client)
    await consumer.start()
    try:
        tps = [tp for name in names for tp in await partitions_of(consumer, name)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        left = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + timeout_s
        while left and time.monotonic() < deadline:
            for batch in (await consumer.getmany(*left, timeout_ms=1000)).values():
                for record in batch:
                    yield record
            left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
        if left:
            unread = ", ".join(sorted({tp.topic for tp in left}))
            raise TimeoutError(f"could not read {len(left)} partitions of {unread} to their end in {timeout_s:.0f} s")
    finally:
        await consumer.stop()
