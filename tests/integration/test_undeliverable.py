"""Acked means durable: when the hub cannot write the dead-letter copy of a record it refuses, the
worker stops with a clear error instead of acking the record, and the next worker dead-letters it:
nothing is lost. On a hub of its own, because its worker is meant to stop."""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import Topics
from infra.harness.broker import ClientFiles
from infra.sandbox.samples import dossier_code
from infra.topics import provision
from streams.delivery import EXIT_UNDELIVERABLE
from streams.settings import ClusterSettings
from tests.integration.conftest import read_topic, running_hub, wait_until


async def delete_topic(kafka: ClientFiles, topic: str) -> None:
    admin = AIOKafkaAdminClient(**kafka.client("admin").aiokafka())
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def test_a_dead_letter_that_cannot_be_written_stops_the_worker_and_is_not_lost(kafka: ClientFiles, tmp_path):
    async with running_hub(kafka, tmp_path, "undeliverable", producer_request_timeout_s=3) as hub:
        key = dossier_code(hub.seq())
        await delete_topic(kafka, hub.topics.deadletter)  # nowhere to put a dead letter any more
        await hub.sandbox.justice.send_outbox(key, b"not json at all")

        await wait_until(lambda: not hub.worker.running, 60, "the worker to stop")
        assert hub.worker.stop() == EXIT_UNDELIVERABLE
        assert "stopping: a record could not be written and its cause will not be acked" in hub.worker.tail()

        await provision(kafka.client("admin"), hub.topics, group_of(hub.topics))  # the operator fixes it
        hub.worker.start()
        deadline = time.monotonic() + 60
        while not (letters := await read_topic(hub.operator, hub.topics.deadletter, key)):
            assert time.monotonic() < deadline, "the record was never dead-lettered"
            await asyncio.sleep(0.5)
        assert letters[0].value == b"not json at all"


def group_of(topics: Topics) -> str:
    return ClusterSettings(topic_namespace=topics.namespace).group_id
