"""Legal deadlines on the running hub: moving its clock past a due date flags the dossier
overdue and sends the citizen an apology with a new date."""

from __future__ import annotations

from datetime import date

from contracts.status import DossierStatus as S
from infra.sandbox.samples import birth_filing
from tests.integration.conftest import Hub, wait_until


async def test_moving_the_clock_past_the_due_date_flags_overdue_and_sends_the_apology(hub: Hub):
    justice = hub.sandbox.justice
    justice.drop_replies = 100  # justice's replies are lost for now: the dossier stays in flight
    filing = birth_filing(hub.sandbox.population, hub.rng, hub.seq())
    dossier = filing["ma_ho_so"]
    try:
        await justice.file_birth(filing)
        await hub.watcher.wait_for(lambda: any(t.step == "register_birth" and t.state == "running"
                                               for t in hub.watcher.transitions[dossier]), 30,
                                   "register_birth to start")
        hub.move_clock(30 * 24 * 3600)  # a month later
        await wait_until(lambda: hub.sandbox.portal.apologies.get(dossier), 30, "the apology on the portal")
    finally:
        hub.move_clock(0)
        justice.drop_replies = 0

    (notice,) = hub.sandbox.portal.apologies[dossier]
    assert notice.new_due_date > notice.due_date > date.today()
    assert f"hẹn trả kết quả ngày {notice.new_due_date}" in notice.apology
    overdue = [t for t in hub.watcher.transitions[dossier] if t.state == "overdue"]
    assert {t.step for t in overdue} == {None, "register_birth"}
    # Overdue is a flag, not a status: once justice answers again the late dossier completes.
    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    assert len(justice.effects.for_dossier(dossier)) == 1
    await wait_until(lambda: justice.apologies.get(dossier), 30, "the apology at the filing agency")
