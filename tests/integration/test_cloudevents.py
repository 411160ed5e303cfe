"""Hub records follow the CloudEvents Kafka binding: the official SDK reads them without knowing lienthong.

Every record whose value is an envelope is in structured content mode (header ``content-type:
application/cloudevents+json``, no ``ce_`` headers), and the SDK's event has the envelope's
attributes and extensions, with the Kafka key (the dossier code) as ``partitionkey``.
"""

from __future__ import annotations

import random

from aiokafka.structs import ConsumerRecord
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event, from_structured_event

from contracts.envelope import CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE, Envelope
from contracts.events import DOSSIER_STATUS, STEP_COMMAND, STEP_REPLY
from contracts.status import DossierStatus as S
from infra.pytest_plugin import Hub, read_topic
from infra.sandbox.samples import birth_filing

EXTENSIONS = ("correlationid", "causationid", "idempotencykey")


def read_as_cloudevent(record: ConsumerRecord) -> tuple[dict, dict]:
    """The SDK's attributes and data for ``record``, after checking it is in structured mode."""
    headers = [(name, value) for name, value in record.headers]
    assert [v for k, v in headers if k == CONTENT_TYPE_HEADER] == [STRUCTURED_CONTENT_TYPE.encode()], headers
    assert not [k for k, _ in headers if k.lower().startswith("ce_")], "structured mode has no ce_ headers"
    message = KafkaMessage(headers=dict(headers), key=record.key, value=record.value)
    event = from_kafka_event(message)  # the SDK picks the mode from the headers
    assert event.get_attributes() == from_structured_event(message).get_attributes()
    return event.get_attributes(), event.get_data()


def assert_same_event(attributes: dict, data: dict, envelope: Envelope, key: bytes) -> None:
    assert attributes["specversion"] == "1.0"
    for name in ("id", "source", "type", "subject", "datacontenttype", *EXTENSIONS):
        assert attributes[name] == getattr(envelope, name), name
    assert attributes["time"] == envelope.time
    assert attributes["partitionkey"] == key.decode() == envelope.subject
    assert data == envelope.data


async def test_a_cloudevents_consumer_reads_the_hubs_records(hub: Hub, rng: random.Random):
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = filing["ma_ho_so"]
    await hub.sandbox.justice.file_birth(filing)  # justice's own format: not an envelope
    assert await hub.wait_final(dossier) is S.RESULT_RETURNED

    # a status update the hub wrote for the portal
    statuses = []
    for record in await read_topic(hub.operator, hub.topics.inbox("portal"), dossier):
        attributes, data = read_as_cloudevent(record)
        assert_same_event(attributes, data, Envelope.from_bytes(record.value), record.key)
        if attributes["type"] == DOSSIER_STATUS:
            assert attributes["source"] == "/hub/orchestrate"
            assert attributes["subject"] == dossier
            statuses.append(data["status"])
    assert statuses[-1] == S.RESULT_RETURNED

    # the step command the hub wrote on justice's inbox
    commands = []
    for record in await read_topic(hub.operator, hub.topics.inbox("justice"), dossier):
        attributes, data = read_as_cloudevent(record)
        assert_same_event(attributes, data, Envelope.from_bytes(record.value), record.key)
        if attributes["type"] == STEP_COMMAND:
            commands.append((attributes, data))
    assert commands, "no step command on justice's inbox"
    command, params = commands[0]  # a re-send (reply timeout) repeats it under the same key
    assert params["action"] == "register_birth"
    assert command["idempotencykey"] and command["correlationid"]
    assert command["causationid"]  # the event that caused the command
    assert {c["idempotencykey"] for c, _ in commands} == {command["idempotencykey"]}

    # every record of the dossier on the other topics: envelopes in structured mode, the native
    # filing justice wrote with no CloudEvents content type
    for topic in (
        hub.topics.outbox("justice"),  # the native filing, then justice's reply (sandbox)
        hub.topics.outbox("population"),  # written by the hub's REST bridge
        hub.topics.outbox("portal"),
        hub.topics.monitor,
        hub.topics.audit,
    ):
        records = await read_topic(hub.operator, topic, dossier)
        assert records, f"nothing on {topic}"
        for record in records:
            if b'"specversion"' not in record.value:
                assert (CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE.encode()) not in record.headers
                continue
            attributes, data = read_as_cloudevent(record)
            assert_same_event(attributes, data, Envelope.from_bytes(record.value), record.key)

    replies = [
        Envelope.from_bytes(r.value)
        for r in await read_topic(hub.operator, hub.topics.outbox("justice"), dossier)
        if b'"specversion"' in r.value
    ]
    assert replies and {e.type for e in replies} == {STEP_REPLY}
