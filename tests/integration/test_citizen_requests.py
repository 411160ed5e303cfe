"""What a citizen can do to a dossier in flight: supply requested documents, or withdraw it."""

from __future__ import annotations

import random

from contracts.status import DossierStatus as S
from infra.pytest_plugin import Hub, wait_until
from infra.sandbox.samples import birth_filing


def statuses(hub: Hub, dossier: str) -> list[S]:
    return [u.status for u in hub.sandbox.portal.timelines[dossier]]


async def test_documents_requested_round_trip(hub: Hub, rng: random.Random):
    filing = birth_filing(hub.sandbox.population, rng, hub.seq()) | {"noi_sinh": "Tại nhà, ấp Láng Hầm"}
    dossier = filing["ma_ho_so"]
    await hub.sandbox.justice.file_birth(filing)

    await wait_until(lambda: S.DOCUMENTS_REQUESTED in statuses(hub, dossier), 30, "status 5 on the portal")
    asked = hub.sandbox.portal.current(dossier)
    assert asked.label == "Yêu cầu bổ sung giấy tờ"
    assert "witness statement" in asked.reason and asked.reason.startswith("register_birth (justice): ")

    await hub.sandbox.portal.supplement(dossier, {"witness_statement": "VB-2026-0042"})
    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    assert statuses(hub, dossier) == [
        S.NEWLY_REGISTERED,
        S.ACCEPTED,
        S.PROCESSING,
        S.DOCUMENTS_REQUESTED,
        S.PROCESSING,
        S.PROCESSED,
        S.RESULT_RETURNED,
    ]
    (birth,) = hub.sandbox.justice.effects.for_dossier(dossier)
    assert birth.key == f"{dossier}/register_birth/r2"


async def test_withdrawal_mid_flight_stops_pending_steps(hub: Hub, rng: random.Random):
    justice = hub.sandbox.justice
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = filing["ma_ho_so"]
    async with justice.replies_held(dossier) as held:  # justice registers the birth; the hub does not hear of it
        await justice.file_birth(filing)
        await wait_until(lambda: held, 30, "justice to answer register_birth")
        await hub.sandbox.portal.withdraw(dossier, "gia đình chuyển nơi ở (the family moved)")
        assert await hub.wait_final(dossier) is S.WITHDRAWN
    final = hub.sandbox.portal.current(dossier)
    assert final.label == "Công dân yêu cầu rút hồ sơ" and final.reason == "gia đình chuyển nơi ở (the family moved)"
    cancelled = {t.step for t in hub.watcher.transitions[dossier] if t.state == "cancelled"}
    assert cancelled == {"assign_personal_id", "register_residence", "issue_health_card", "return_result"}
    assert hub.sandbox.population.effects.for_dossier(dossier) == []
    assert hub.sandbox.insurance.effects.for_dossier(dossier) == []
