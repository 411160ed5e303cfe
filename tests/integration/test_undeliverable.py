"""Acked means durable: when the hub cannot write the dead-letter copy of a record it refuses, or a
saga's new state to the table's changelog, the worker stops with a clear error instead of acking
the event, and the next worker handles it again: nothing is lost. On hubs of their own, because
their workers are meant to stop."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DeleteAclsRequest

from contracts.agencies import REGISTRY
from contracts.envelope import Envelope
from contracts.events import PaymentNotification
from contracts.signing import signed_headers
from contracts.status import DossierStatus as S
from contracts.topics import Topics
from infra.acls import Operation, Pattern, Resource
from infra.harness.broker import ClientFiles
from infra.pytest_plugin import read_topic, records_arriving, running_hub, wait_until
from infra.sandbox.samples import birth_filing, dossier_code
from infra.topics import provision
from streams.delivery import EXIT_UNDELIVERABLE
from streams.settings import ClusterSettings


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
        letters = await records_arriving(hub.operator, hub.topics.deadletter, key, 60, "the record's dead letter")
        assert letters[0].value == b"not json at all"


def group_of(topics: Topics) -> str:
    return ClusterSettings(topic_namespace=topics.namespace).group_id


async def revoke_table_writes(kafka: ClientFiles, topics: Topics) -> None:
    """Remove the hub's right to write its internal topics (``<group>-…``: the table changelog)."""
    await revoke_hub_writes(kafka, f"{group_of(topics)}-", Pattern.PREFIXED)


async def revoke_hub_writes(kafka: ClientFiles, topic: str, pattern: int = Pattern.LITERAL) -> None:
    """Remove the hub's right to write ``topic`` (or every topic it prefixes)."""
    admin = AIOKafkaAdminClient(**kafka.client("admin").aiokafka())
    await admin.start()
    try:
        request = DeleteAclsRequest(
            Resource.TOPIC,
            topic,
            pattern,
            f"User:{REGISTRY.hub.principal}",
            "*",
            Operation.WRITE,
            3,  # ALLOW
        )
        response = await admin._send_request(request)
        ((_code, _message, removed),) = response.filter_responses
        assert removed, "no ACL was removed"
    finally:
        await admin.close()


async def test_a_saga_state_that_cannot_be_stored_stops_the_worker_and_is_not_lost(kafka: ClientFiles, tmp_path, rng):
    async with running_hub(kafka, tmp_path, "unstorable", producer_request_timeout_s=3) as hub:
        justice = hub.sandbox.justice
        filing = birth_filing(hub.sandbox.population, rng, hub.seq())
        dossier = filing["ma_ho_so"]
        async with justice.replies_held(dossier, deliver=True):  # the birth is registered; its answer waits
            await justice.file_birth(filing)
            await hub.watcher.wait_for(
                lambda: any(t.step == "register_birth" for t in hub.watcher.transitions[dossier]), 60, "the step"
            )
            await revoke_table_writes(kafka, hub.topics)
            await asyncio.sleep(1)  # the broker applies the change from its metadata log
        # applying the answer changes the saga: its new state cannot be written to the changelog
        await wait_until(lambda: not hub.worker.running, 60, "the worker to stop")
        assert hub.worker.stop() == EXIT_UNDELIVERABLE
        assert "stopping: a record could not be written and its cause will not be acked" in hub.worker.tail()

        await provision(kafka.client("admin"), hub.topics, group_of(hub.topics))  # the operator fixes it
        hub.worker.start()
        assert await hub.wait_final(dossier) is S.RESULT_RETURNED
        assert len(justice.effects.for_dossier(dossier)) == 1


async def test_a_payment_notification_is_accepted_only_once_it_is_on_the_broker(kafka: ClientFiles, tmp_path):
    """The gateway does not send a notification again once told 202: a 202 given before the record
    was durable lost a payment when the worker died right after (the small chaos run, CI)."""
    async with running_hub(kafka, tmp_path, "unrecorded", producer_request_timeout_s=3) as hub:
        settings = hub.worker.settings
        paid = PaymentNotification(
            reference=f"{dossier_code(hub.seq())}/collect_fee",
            transaction_id="PG-UNRECORDED-1",
            amount_vnd=200_000,
            status="paid",
            paid_at=datetime.now(UTC),
        )
        body = paid.model_dump_json().encode()
        secret = settings.payment_secret.get_secret_value().encode()

        async def notify() -> httpx.Response:
            deadline = time.monotonic() + 60
            async with httpx.AsyncClient(timeout=30) as http:
                while True:  # the worker may still be starting
                    headers = signed_headers(secret, body) | {"Content-Type": "application/json"}
                    try:
                        return await http.post(settings.payment_callback_url, content=body, headers=headers)
                    except httpx.ConnectError:
                        assert time.monotonic() < deadline, "the callback endpoint never listened"
                        await asyncio.sleep(0.5)

        await revoke_hub_writes(kafka, hub.topics.outbox("payment"))
        await asyncio.sleep(1)  # the broker applies the change from its metadata log
        refused = await notify()
        assert refused.status_code == 503 and "send it again" in refused.json()["detail"]
        assert not await read_topic(hub.operator, hub.topics.outbox("payment"), paid.dossier_id)

        await provision(kafka.client("admin"), hub.topics, group_of(hub.topics))  # the operator fixes it
        await asyncio.sleep(1)
        assert (await notify()).status_code == 202
        (record,) = await read_topic(hub.operator, hub.topics.outbox("payment"), paid.dossier_id)
        assert PaymentNotification.model_validate(Envelope.from_bytes(record.value).data) == paid
