"""Death bundle: the family chooses the linked steps; the allowance only where insured."""

from __future__ import annotations

import random

from contracts.status import DossierStatus as S
from infra.pytest_plugin import Hub
from infra.sandbox.insurance import FUNERAL_ALLOWANCE_VND
from infra.sandbox.samples import death_filing, dossier_code


async def test_all_linked_steps_for_an_insured_deceased(hub: Hub, rng: random.Random):
    dossier = dossier_code(hub.seq())
    filing = death_filing(hub.sandbox.population, rng, insured=True)
    await hub.sandbox.portal.file("death_bundle", dossier, filing)

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    deceased = filing["deceased"]["personal_id"]
    documents = hub.sandbox.portal.documents[dossier]
    assert documents["death_certificate_no"].startswith("KT-")
    assert deceased in hub.sandbox.population.deceased
    assert hub.sandbox.insurance.allowances[deceased]["AmountVnd"] == str(FUNERAL_ALLOWANCE_VND)
    assert hub.sandbox.insurance.allowances[deceased]["BeneficiaryId"] == filing["declarant"]["personal_id"]
    assert set(documents) == {"death_certificate_no", "residence_removal_id", "funeral_allowance_ref"}
    for agency in (hub.sandbox.justice, hub.sandbox.population, hub.sandbox.insurance):
        assert len([e for e in agency.effects.for_dossier(dossier) if e.kind != "verify_citizen"]) == 1


async def test_the_family_may_link_only_the_residence_removal(hub: Hub, rng: random.Random):
    dossier = dossier_code(hub.seq())
    filing = death_filing(hub.sandbox.population, rng, insured=True, funeral_allowance=False)
    await hub.sandbox.portal.file("death_bundle", dossier, filing)

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    assert filing["deceased"]["personal_id"] in hub.sandbox.population.deceased
    assert hub.sandbox.insurance.effects.for_dossier(dossier) == []
    skipped = {t.step for t in hub.watcher.transitions[dossier] if t.state == "skipped"}
    assert skipped == {"pay_funeral_allowance"}


async def test_no_allowance_for_an_uninsured_deceased_but_the_dossier_completes(hub: Hub, rng: random.Random):
    dossier = dossier_code(hub.seq())
    filing = death_filing(hub.sandbox.population, rng, insured=False)
    await hub.sandbox.portal.file("death_bundle", dossier, filing)

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    (declined,) = [t for t in hub.watcher.transitions[dossier] if t.state == "declined"]
    assert declined.step == "pay_funeral_allowance" and "was not insured" in declined.reason
    assert "funeral_allowance_ref" not in hub.sandbox.portal.documents[dossier]
    assert hub.sandbox.insurance.effects.for_dossier(dossier) == []
