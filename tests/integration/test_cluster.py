"""The three-broker cluster keeps every acknowledged record when a broker dies.

A cluster of its own (three KRaft nodes on free ports, in a temporary folder): the hub's topics are
provisioned with three replicas, records are written with acks=all, the leader of partition 0 is
killed with SIGKILL, writing goes on, every record is read back, and the killed broker rejoins.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from connectors.kafka_client import KafkaClient
from contracts.topics import Topics
from infra.harness.broker import LocalCluster
from infra.harness.net import free_port
from infra.topics import provision, read_to_end

pytestmark = pytest.mark.integration

RECORDS = 200  # per phase: before the kill and while the broker is down
SEND_TIMEOUT_S = 30  # a send waits for a new leader (the dead broker is fenced after 4 s)
CATCH_UP_S = 30
SETTLE_S = 15  # for an admin request answered by a broker that just died, or ACLs to reach every broker


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    ports = [free_port() for _ in range(3)]
    controller_ports = [free_port() for _ in range(3)]
    cluster = LocalCluster(ports, tmp_path_factory.mktemp("cluster"), controller_ports, heap="384m").start()
    try:
        yield cluster
    finally:
        cluster.stop()


async def retried(request: Callable[[], Awaitable[Any]]) -> Any:
    """The admin client asks any broker it knows, a dead one too until it is out of the metadata."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        try:
            return await request()
        except KafkaError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def describe(admin: AIOKafkaAdminClient, topic: str) -> list[dict]:
    (described,) = await retried(lambda: admin.describe_topics([topic]))
    assert described["error_code"] == 0, described
    return sorted(described["partitions"], key=lambda p: p["partition"])


async def topic_config(admin: AIOKafkaAdminClient, topic: str, name: str) -> str:
    """The effective value of ``name`` for ``topic`` (its own, else the broker's default)."""
    (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {name: None})])
    (resource,) = response.resources
    assert resource[0] == 0, resource
    return {entry[0]: entry[1] for entry in resource[4]}[name]


async def produce(client: KafkaClient, topic: str, values: list[bytes]) -> None:
    """Send every value with acks=all (idempotent: a retried send is not written twice); returns once
    each is acknowledged by the leader and the in-sync replicas."""
    producer = AIOKafkaProducer(
        **client.aiokafka(), acks="all", enable_idempotence=True, request_timeout_ms=SEND_TIMEOUT_S * 1000
    )
    await producer.start()
    try:
        sends = [await producer.send(topic, key=v, value=v) for v in values]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def read_all(client: KafkaClient, topic: str) -> list[bytes]:
    return [record.value async for record in read_to_end(client, [topic])]


async def wait_for_isr(admin: AIOKafkaAdminClient, topic: str, size: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        partitions = await describe(admin, topic)
        if all(len(p["isr"]) == size for p in partitions):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{topic}: in-sync replicas {[p['isr'] for p in partitions]} after {timeout_s:.0f}s")
        await asyncio.sleep(0.5)


async def test_a_killed_broker_loses_no_acknowledged_record(cluster: LocalCluster) -> None:
    kafka = cluster.clients
    assert kafka.client("hub").bootstrap_servers == cluster.bootstrap  # one file reaches all three
    topics = Topics(namespace=f"it-cluster-{os.getpid()}-{int(time.time())}.", replication=3)
    hub_group = f"{topics.namespace}lienthong-hub"
    await provision(kafka.client("admin"), topics, hub_group)
    topic = topics.dossier_events
    admin = AIOKafkaAdminClient(**kafka.client("admin").aiokafka(), request_timeout_ms=15000)
    await admin.start()
    try:
        partitions = await describe(admin, topic)
        assert [len(p["replicas"]) for p in partitions] == [3] * topics.partitions
        assert await topic_config(admin, topic, "min.insync.replicas") == "2"
        assert await topic_config(admin, topic, "unclean.leader.election.enable") == "false"

        # The hub writes (its ACLs, granted once by the admin, hold on every broker); the operator reads.
        before = [f"before-{i}".encode() for i in range(RECORDS)]
        await produce(kafka.client("hub"), topic, before)

        victim = partitions[0]["leader"]  # node n is broker id n
        await asyncio.to_thread(cluster.kill, victim)
        during = [f"during-{i}".encode() for i in range(RECORDS)]
        await produce(kafka.client("hub"), topic, during)
        partitions = await describe(admin, topic)
        assert all(victim not in p["isr"] and len(p["isr"]) == 2 for p in partitions), partitions

        read = await read_all(kafka.client("operator"), topic)
        assert sorted(read) == sorted(before + during)  # none lost, none written twice

        await asyncio.to_thread(cluster.restart, victim)
        await wait_for_isr(admin, topic, 3, CATCH_UP_S)
    finally:
        await admin.close()
