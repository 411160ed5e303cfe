"""Provision every topic declared in ``contracts.topics`` (idempotent)."""

from __future__ import annotations

import asyncio
import time

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from contracts.topics import TopicSpec

log = structlog.get_logger("lienthong.topics")


async def provision(bootstrap: str, specs: list[TopicSpec], timeout_s: float = 30) -> list[str]:
    """Create the topics that do not exist yet and wait until every partition has a leader;
    returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            try:
                await admin.create_topics([NewTopic(s.name, s.partitions, 1, topic_configs=s.config) for s in missing])
            except TopicAlreadyExistsError:
                pass  # created concurrently by another provisioner
        for spec in missing:
            log.info("topic created", topic=spec.name, partitions=spec.partitions, purpose=spec.purpose)
        await _wait_for_leaders(admin, [s.name for s in specs], timeout_s)
        return [s.name for s in missing]
    finally:
        await admin.close()


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


async def partitions_of(consumer: AIOKafkaConsumer, name: str) -> list[TopicPartition]:
    """The partitions of topic ``name``, fetching metadata first if the consumer lacks it."""
    parts = consumer.partitions_for_topic(name)
    if not parts:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(name) or set()
    return [TopicPartition(name, p) for p in sorted(parts)]
