"""No anonymous client on the broker; each principal reaches only what the registry's ACLs grant.

Every wait is bounded: a refused client must fail, not hang.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from dataclasses import replace

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from connectors.kafka_client import KafkaClient
from contracts.topics import Topics
from infra.harness.broker import KAFKA_SH, ClientFiles
from infra.topics import provision, read_to_end

REFUSAL_S = 20  # a refused client gives up well within this


@pytest.fixture(scope="module")
async def topics(kafka: ClientFiles) -> Topics:
    """A namespace of its own, provisioned with the registry's ACLs."""
    topics = Topics(namespace=f"it-security-{os.getpid()}-{int(time.time())}.")
    await provision(kafka.client("admin"), topics, f"{topics.namespace}lienthong-hub")
    return topics


async def produce(client: KafkaClient | dict, topic: str) -> None:
    kwargs = client.aiokafka() if isinstance(client, KafkaClient) else client
    producer = AIOKafkaProducer(**kwargs, request_timeout_ms=5000)
    try:
        await asyncio.wait_for(producer.start(), REFUSAL_S)
        await asyncio.wait_for(producer.send_and_wait(topic, key=b"k", value=b"v"), REFUSAL_S)
    finally:
        await producer.stop()


async def read_first(client: KafkaClient, topic: str, group: str | None = None) -> None:
    """Fetch from partition 0 of ``topic`` (committing in ``group`` if given)."""
    consumer = AIOKafkaConsumer(**client.aiokafka(), group_id=group, enable_auto_commit=False)
    try:
        await asyncio.wait_for(consumer.start(), REFUSAL_S)
        # What aiokafka's producer does before a send: a topic the broker does not describe to this
        # principal raises TopicAuthorizationFailedError (a consumer would just never get a partition).
        await asyncio.wait_for(consumer._client._wait_on_metadata(topic), REFUSAL_S)
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        await asyncio.wait_for(consumer.getmany(tp, timeout_ms=1000), REFUSAL_S)
        if group:
            await asyncio.wait_for(consumer.commit(), REFUSAL_S)
    finally:
        await consumer.stop()


async def test_a_client_without_credentials_is_refused(kafka: ClientFiles, topics: Topics):
    bootstrap = kafka.client("justice").bootstrap_servers
    with pytest.raises(KafkaConnectionError):
        await produce({"bootstrap_servers": bootstrap}, topics.outbox("justice"))


async def test_tls_without_a_login_is_refused(kafka: ClientFiles, topics: Topics):
    justice = kafka.client("justice")
    with pytest.raises(KafkaConnectionError):
        await produce(replace(justice, security_protocol="SSL", sasl_mechanism=None), topics.outbox("justice"))


async def test_a_wrong_password_is_refused(kafka: ClientFiles, topics: Topics):
    justice = kafka.client("justice")
    with pytest.raises(KafkaError):
        await produce(replace(justice, password="not-the-password"), topics.outbox("justice"))


async def test_justice_writes_only_its_own_outbox(kafka: ClientFiles, topics: Topics):
    justice = kafka.client("justice")
    await produce(justice, topics.outbox("justice"))
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(justice, topics.outbox("tax"))
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(justice, topics.dossier_events)


async def test_an_agency_reads_only_its_own_inbox(kafka: ClientFiles, topics: Topics):
    justice, tax = kafka.client("justice"), kafka.client("tax")
    await read_first(justice, topics.inbox("justice"))
    with pytest.raises(TopicAuthorizationFailedError):
        await read_first(justice, topics.inbox("population"))
    with pytest.raises(TopicAuthorizationFailedError):
        await read_first(tax, topics.inbox("justice"))
    with pytest.raises(TopicAuthorizationFailedError):
        await read_first(justice, topics.audit)


async def test_an_agency_joins_only_consumer_groups_under_its_own_prefix(kafka: ClientFiles, topics: Topics):
    justice = kafka.client("justice")
    await read_first(justice, topics.inbox("justice"), topics.agency_group("justice", "test"))
    with pytest.raises(GroupAuthorizationFailedError):
        await read_first(justice, topics.inbox("justice"), topics.agency_group("tax", "test"))


async def test_an_operator_reads_with_kafka_console_consumer_and_its_client_file(kafka: ClientFiles, topics: Topics):
    await produce(kafka.client("justice"), topics.outbox("justice"))
    libs = KAFKA_SH.parent / "target" / "libs"
    command = ["java", "-cp", f"{libs}/*", "org.apache.kafka.tools.consumer.ConsoleConsumer"]
    command += ["--bootstrap-server", kafka.client("operator").bootstrap_servers]
    command += ["--command-config", str(kafka.file("operator")), "--topic", topics.outbox("justice")]
    command += ["--group", topics.operator_group("console"), "--from-beginning", "--max-messages", "1"]
    command += ["--timeout-ms", "30000", "--formatter-property", "print.key=true"]
    result = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "k\tv" in result.stdout.splitlines()


async def test_read_to_end_returns_every_record_there_when_it_began_and_then_stops(kafka: ClientFiles, topics: Topics):
    """infra.topics.read_to_end, which the bench reads its topics back with (empty partitions too)."""
    admin, written = kafka.client("admin"), {topics.inbox("tax"): 5, topics.outbox("tax"): 3}
    producer = AIOKafkaProducer(**admin.aiokafka())
    await producer.start()
    try:
        for topic, n in written.items():
            for i in range(n):
                await producer.send_and_wait(topic, key=f"k{i}".encode(), value=b"v")
    finally:
        await producer.stop()
    names = [*written, topics.inbox("portal")]  # nothing on the last one
    read = [record.topic async for record in read_to_end(admin, names, timeout_s=30)]
    assert sorted(read) == sorted(topic for topic, n in written.items() for _ in range(n))
