"""The audit log: every command the hub sends an agency leaves one record on ``hub.audit`` naming
who received which fields and why, never the values (Decree 13/2023: purpose limitation)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

from contracts.agencies import AGENCIES
from contracts.envelope import Envelope
from contracts.events import AuditRecord
from contracts.status import DossierStatus as S
from infra.sandbox.samples import birth_filing
from tests.integration.conftest import Hub, read_topic


def leaves(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted field name -> value for every leaf of a command's params."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        out |= leaves(value, f"{prefix}{name}.") if isinstance(value, dict) else {prefix + name: value}
    return out


async def test_every_command_for_a_birth_dossier_has_one_audit_record_without_personal_data(
    hub: Hub, rng: random.Random
):
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = filing["ma_ho_so"]
    await hub.sandbox.justice.file_birth(filing)
    assert await hub.wait_final(dossier) is S.RESULT_RETURNED

    commands = [
        command
        for agency in AGENCIES
        for sends in (await hub.commands_sent(agency, dossier)).values()
        for command in sends
    ]
    expected = Counter(
        (c.data["agency"], c.data["action"], c.data["step"], tuple(sorted(leaves(c.data["params"]))), c.data["purpose"])
        for c in commands
    )
    deadline = time.monotonic() + 10  # each audit record is written just after its command: let it land
    while len(audit := await read_topic(hub.bootstrap, hub.topics.audit, dossier)) < len(commands):
        assert time.monotonic() < deadline, f"{len(audit)} audit records for {len(commands)} commands"
        await asyncio.sleep(0.2)
    records = [Envelope.from_bytes(r.value).payload(AuditRecord) for r in audit]

    assert Counter((r.agency, r.action, r.step, tuple(r.fields), r.purpose) for r in records) == expected
    assert {r.agency for r in records} == {"population", "justice", "insurance", "portal"}
    assert all(r.purpose for r in records)

    raw = b"\n".join(r.value for r in audit)
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
