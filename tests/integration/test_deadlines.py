"""Time on a running hub of its own (``clock_hub``, so the shared hub's clock never moves): moving
its clock past a due date flags the dossier overdue and sends the citizen an apology with a new
date; a step with its own ``reply_timeout_s`` is sent again after that, not the hub's timeout; a
finished saga is deleted once its retention period has passed."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import date
from itertools import pairwise

from contracts.status import DossierStatus as S
from infra.harness.broker import ClientFiles
from infra.pytest_plugin import Hub, read_topic, wait_until
from infra.sandbox.samples import birth_filing
from streams.normalize import justice_birth
from tests.integration.conftest import CLOCK_HUB_STEP_TIMEOUT_S


def redispatches(hub: Hub, dossier_id: str, step: str) -> int:
    return sum(t.step == step and t.state == "redispatched" for t in hub.watcher.transitions[dossier_id])


async def test_moving_the_clock_past_the_due_date_flags_overdue_and_sends_the_apology(
    clock_hub: Hub, rng: random.Random
):
    hub, justice = clock_hub, clock_hub.sandbox.justice
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = filing["ma_ho_so"]
    # justice registers the birth but its answer waits for the network: the dossier stays in flight
    async with justice.replies_held(dossier, deliver=True):
        await justice.file_birth(filing)
        await hub.watcher.wait_for(
            lambda: any(t.step == "register_birth" and t.state == "running" for t in hub.watcher.transitions[dossier]),
            30,
            "register_birth to start",
        )
        try:
            await hub.move_clock(30 * 24 * 3600)  # a month later
            await wait_until(lambda: hub.sandbox.portal.apologies.get(dossier), 30, "the apology on the portal")
        finally:
            await hub.move_clock(0)

    (notice,) = hub.sandbox.portal.apologies[dossier]
    assert notice.new_due_date > notice.due_date > date.today()
    assert f"hẹn trả kết quả ngày {notice.new_due_date}" in notice.apology
    overdue = [t for t in hub.watcher.transitions[dossier] if t.state == "overdue"]
    assert {t.step for t in overdue} == {None, "register_birth"}
    # Overdue is a flag, not a status: once justice's answer arrives the late dossier completes.
    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    assert len(justice.effects.for_dossier(dossier)) == 1
    await wait_until(lambda: justice.apologies.get(dossier), 30, "the apology at the filing agency")


async def test_a_step_is_sent_again_after_its_own_reply_timeout(clock_hub: Hub, rng: random.Random):
    hub, justice = clock_hub, clock_hub.sandbox.justice
    native = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = native["ma_ho_so"]
    # birth_quick_resend.toml: register_birth has reply_timeout_s = 1; this hub's step_timeout_s is 30
    async with justice.replies_held(dossier, deliver=True):
        await hub.sandbox.portal.file("birth_quick_resend", dossier, justice_birth(native).filing)
        await hub.watcher.wait_for(
            lambda: redispatches(hub, dossier, "register_birth") >= 2,
            CLOCK_HUB_STEP_TIMEOUT_S - 5,
            "register_birth to be sent twice more",
        )

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    sends = (await hub.commands_sent("justice", dossier))["register_birth"][:3]
    gaps = [(later.time - earlier.time).total_seconds() for earlier, later in pairwise(sends)]
    assert len(gaps) == 2 and all(0.9 <= gap < CLOCK_HUB_STEP_TIMEOUT_S / 2 for gap in gaps), gaps
    assert len({e.idempotencykey for e in sends}) == 1
    assert len(justice.effects.for_dossier(dossier)) == 1


async def test_a_finished_saga_is_forgotten_after_its_retention_period(
    clock_hub: Hub, kafka: ClientFiles, rng: random.Random
):
    hub, admin = clock_hub, kafka.client("admin")  # operators may not read the changelog: it holds filings
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = filing["ma_ho_so"]
    await hub.sandbox.justice.file_birth(filing)
    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    changelog = f"{hub.topics.namespace}lienthong-hub-sagas-changelog"  # Faust's, for the saga table

    async def stored() -> bool | None:
        """Whether the changelog's last record for the dossier holds its saga (None: nothing yet)."""
        records = await read_topic(admin, changelog, json.dumps(dossier))  # the table's keys are JSON
        return records[-1].value is not None if records else None

    async def until(expected: bool, what: str) -> None:
        deadline = time.monotonic() + 30
        while await stored() is not expected:
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.5)

    await until(True, "the saga was never stored")
    try:
        await hub.move_clock(31 * 24 * 3600)  # past the default 30 days of retention
        await until(False, "the saga was not forgotten (no tombstone in the changelog)")
    finally:
        await hub.move_clock(0)
    # The hub no longer knows the dossier: a late request is dead-lettered, not applied.
    await hub.sandbox.portal.withdraw(dossier)
    await hub.watcher.wait_for(
        lambda: any(
            d.key == dossier.encode() and d.reason.endswith("for a dossier the hub does not know")
            for d in hub.watcher.dead_letters
        ),
        30,
        "the late withdrawal to be dead-lettered",
    )
    assert hub.sandbox.portal.current(dossier).status is S.RESULT_RETURNED
