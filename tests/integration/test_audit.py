"""The audit log on the real broker: every exchange of personal data leaves a record on ``hub.audit``
naming who received which fields and why (never the values, people only by keyed hash); each
partition is a hash chain with signed checkpoints that ``lienthong audit verify`` checks, and
``lienthong audit citizen`` answers one person's request."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.agencies import AGENCIES
from contracts.audit import AuditEntry, subject_ref
from contracts.events import AuditRecord
from contracts.status import DossierStatus as S
from contracts.topics import Topics
from infra.audit import Stored, citizen_exchanges, read_audit
from infra.harness.broker import ClientFiles
from infra.pytest_plugin import Hub, read_topic
from infra.sandbox.samples import birth_filing


def leaves(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted field name -> value for every leaf of a command's params."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        out |= leaves(value, f"{prefix}{name}.") if isinstance(value, dict) else {prefix + name: value}
    return out


def exchanges(stored: list[Stored], dossier: str | None = None) -> list[tuple[Stored, AuditRecord]]:
    entries = [(s, AuditEntry.model_validate_json(s.value or b"")) for s in stored]
    return [(s, x) for s, e in entries for x in e.exchanges or [] if dossier is None or x.dossier_id == dossier]


async def file_birth(hub: Hub, rng: random.Random) -> dict[str, Any]:
    """File a birth dossier, wait until it ends and every command sent for it is audited."""
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = filing["ma_ho_so"]
    await hub.sandbox.justice.file_birth(filing)
    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    sent = sum([len(s) for a in AGENCIES for s in (await hub.commands_sent(a, dossier)).values()])
    deadline = time.monotonic() + 10  # each audit record is written just after its command: let it land
    while (audited := await audited_commands(hub, dossier)) < sent:
        assert time.monotonic() < deadline, f"{audited} audited commands for {sent} sent"
        await asyncio.sleep(0.2)
    return filing


async def audited_commands(hub: Hub, dossier: str) -> int:
    stored = await read_audit(hub.operator, hub.topics.audit)
    return sum(r.kind == "command" for _, r in exchanges(stored, dossier))


def lienthong(
    hub: Hub,
    kafka: ClientFiles,
    *args: str,
    client: str = "operator",
    namespace: str | None = None,
    **variables: str,
) -> tuple[int, str]:
    """Run the ``lienthong`` command line as ``client`` on ``hub``'s topics (or ``namespace``'s),
    with the environment ``variables`` on top of the hub's."""
    settings = hub.worker.settings
    env = (
        os.environ
        | {
            "LIENTHONG_KAFKA_CLIENT_PROPERTIES": str(kafka.file(client)),
            "LIENTHONG_TOPIC_NAMESPACE": namespace or hub.topics.namespace,
            "LIENTHONG_KEYRING": str(settings.keyring),
            "LIENTHONG_AUDIT_KEY": settings.audit_key.get_secret_value(),
            "LIENTHONG_AUDIT_CHECKPOINT_EVERY": str(settings.audit_checkpoint_every),
        }
        | variables
    )
    if kafka.bootstrap_servers:
        env["KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap_servers
    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stdout + done.stderr


async def test_every_exchange_of_a_birth_dossier_is_audited_without_personal_data(hub: Hub, rng: random.Random):
    filing = await file_birth(hub, rng)
    dossier = filing["ma_ho_so"]
    commands = [
        command
        for agency in AGENCIES
        for sends in (await hub.commands_sent(agency, dossier)).values()
        for command in sends
    ]
    stored = await read_audit(hub.operator, hub.topics.audit)
    records = [r for _, r in exchanges(stored, dossier)]
    audited = [r for r in records if r.kind == "command"]
    assert Counter((r.agency, r.action, r.step, tuple(r.fields), r.purpose) for r in audited) == Counter(
        (c.data["agency"], c.data["action"], c.data["step"], tuple(sorted(leaves(c.data["params"]))), c.data["purpose"])
        for c in commands
    )
    assert {r.agency for r in audited} == {"population", "justice", "insurance", "portal"}
    replies = {(r.agency, r.step, r.outcome) for r in records if r.kind == "reply"}
    assert replies == {(c.data["agency"], c.data["step"], "succeeded") for c in commands}
    assert {r.agency for r in records if r.kind == "status"} == {"portal", "justice"}
    mother = subject_ref(hub.worker.settings.audit_key.get_secret_value().encode(), filing["so_dinh_danh_me"])
    assert {r.step for r in audited if mother in r.subjects} == {
        c.data["step"] for c in commands if filing["so_dinh_danh_me"] in leaves(c.data["params"]).values()
    }

    # one writer per chain: a dossier's audit records are on the partition number of the events
    # applied to its saga (filed and answered on the outboxes, keyed by the dossier code)
    events = [r for a in AGENCIES for r in await read_topic(hub.operator, hub.topics.outbox(a), dossier)]
    assert events
    assert {s.partition for s, _ in exchanges(stored, dossier)} == {r.partition for r in events}

    raw = b"\n".join(s.value or b"" for s, _ in exchanges(stored, dossier))
    child_id = hub.sandbox.portal.documents[dossier]["personal_id"]
    for personal in (filing["so_dinh_danh_me"], filing["ho_ten_me"], filing["ho_ten_tre"], child_id):
        assert personal.encode() not in raw
    # nor any other value sent (short ASCII codes such as a province number could match an id by chance)
    sent = [
        (name, value)
        for c in commands
        for name, value in leaves(c.data["params"]).items()
        if isinstance(value, str) and (len(value) >= 8 or not value.isascii() or name.endswith("name"))
    ]
    assert len(sent) > 10 and [name for name, value in sent if value.encode() in raw] == []


async def test_audit_verify_passes_on_the_log_and_names_an_edited_deleted_or_swapped_record(
    hub: Hub, rng: random.Random, kafka: ClientFiles
):
    for _ in range(2):
        await file_birth(hub, rng)
    code, out = lienthong(hub, kafka, "audit", "verify")
    assert code == 0, out
    assert "audit intact" in out and " 0 signed checkpoint" not in out, out

    stored = await read_audit(hub.operator, hub.topics.audit)
    partition = Counter(s.partition for s in stored).most_common(1)[0][0]
    chain = [s.value or b"" for s in stored if s.partition == partition]
    assert len(chain) > 10

    def edited(value: bytes) -> bytes:
        entry = json.loads(value)
        entry["exchanges"][0]["purpose"] = "marketing"
        return json.dumps(entry).encode()

    i = next(n for n, v in enumerate(chain) if n > 2 and json.loads(v)["kind"] == "exchanges")
    tampered = {
        "edited": ([*chain[:i], edited(chain[i]), *chain[i + 1 :]], "content does not match its hash"),
        "deleted": ([*chain[:i], *chain[i + 1 :]], "link broken"),
        "swapped": ([*chain[:i], chain[i + 1], chain[i], *chain[i + 2 :]], "link broken"),
    }
    for case, (values, what) in tampered.items():
        namespace = f"{hub.topics.namespace}{case}."
        await copy_to_fresh_topic(kafka, Topics(namespace).audit, hub.topics.partitions, partition, values)
        code, out = lienthong(hub, kafka, "audit", "verify", client="admin", namespace=namespace)
        assert code == 1, f"{case}: {out}"
        assert f"partition {partition} offset {i}: {what}" in out, f"{case}: {out}"

    untouched = f"{hub.topics.namespace}copy."
    await copy_to_fresh_topic(kafka, Topics(untouched).audit, hub.topics.partitions, partition, chain)
    code, out = lienthong(hub, kafka, "audit", "verify", client="admin", namespace=untouched)
    assert code == 0, out


async def copy_to_fresh_topic(
    kafka: ClientFiles, topic: str, partitions: int, partition: int, values: list[bytes]
) -> None:
    """A new topic holding ``values`` on ``partition`` (offsets from 0), written as the super user."""
    admin_client = kafka.client("admin")
    admin = AIOKafkaAdminClient(**admin_client.aiokafka())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**admin_client.aiokafka(), acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, partition=partition)
    finally:
        await producer.stop()


async def test_a_citizen_report_lists_exactly_the_agencies_that_received_her_data(
    hub: Hub, rng: random.Random, kafka: ClientFiles
):
    mine, other = await file_birth(hub, rng), await file_birth(hub, rng)
    mother = mine["so_dinh_danh_me"]
    assert mother != other["so_dinh_danh_me"]
    received = Counter(
        [
            (command.data["agency"], tuple(sorted(leaves(command.data["params"]))))
            for agency in AGENCIES
            for sends in (await hub.commands_sent(agency, mine["ma_ho_so"])).values()
            for command in sends
            if mother in leaves(command.data["params"]).values()
        ]
    )
    assert {agency for agency, _ in received} == {"population", "justice"}

    stored = await read_audit(hub.operator, hub.topics.audit)
    key = hub.worker.settings.audit_key.get_secret_value().encode()
    report = citizen_exchanges(stored, [key], mother)
    assert Counter((e.agency, tuple(e.fields)) for e in report if e.kind == "command") == received
    assert {e.dossier_id for e in report} == {mine["ma_ho_so"]}

    code, out = lienthong(hub, kafka, "audit", "citizen", mother)
    assert code == 0, out
    assert mine["ma_ho_so"] in out and other["ma_ho_so"] not in out and mother not in out
    assert {line.split()[4] for line in out.splitlines() if " received: " in line} == {"population", "justice"}

    # the audit key was changed since: the records written under the old one are still found with it
    rotated = {"LIENTHONG_AUDIT_KEY": "a-new-audit-key-after-rotation"}
    code, out_new_key_only = lienthong(hub, kafka, "audit", "citizen", mother, **rotated)
    assert code == 0 and out_new_key_only.startswith("0 exchange(s)"), out_new_key_only
    old_key = hub.worker.settings.audit_key.get_secret_value()
    code, after = lienthong(hub, kafka, "audit", "citizen", mother, **rotated, LIENTHONG_AUDIT_RETIRED_KEYS=old_key)
    assert code == 0 and "and 1 retired one(s)" in after and old_key not in after
    assert [line for line in after.splitlines() if mine["ma_ho_so"] in line] == [
        line for line in out.splitlines() if mine["ma_ho_so"] in line
    ]
    code, out = lienthong(hub, kafka, "audit", "citizen", "12345")
    assert code == 2 and "12 digits" in out
