"""Business registration: enterprise code from tax (Kafka), social-insurance unit (SOAP)."""

from __future__ import annotations

import random

from contracts.identifiers import check_tax_code
from contracts.status import DossierStatus as S
from infra.pytest_plugin import Hub
from infra.sandbox.samples import business_filing, dossier_code


async def test_business_registration_issues_one_enterprise_code_and_registers_the_insurance_unit(
    hub: Hub, rng: random.Random
):
    dossier = dossier_code(hub.seq())
    filing = business_filing(hub.sandbox.population, rng)
    await hub.sandbox.portal.file("business_registration", dossier, filing)

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    code = hub.sandbox.portal.documents[dossier]["enterprise_code"]
    assert check_tax_code(code) == code and code.startswith("92")  # a valid 10-digit tax code
    assert hub.sandbox.portal.documents[dossier]["insurance_unit_code"] == code
    assert hub.sandbox.tax.enterprises[code]["name"] == filing["enterprise_name"]
    assert hub.sandbox.insurance.employers[code]["Employees"] == "12"
    assert len(hub.sandbox.tax.effects.for_dossier(dossier)) == 1
    assert len(hub.sandbox.insurance.effects.for_dossier(dossier)) == 1


async def test_business_registration_with_an_unknown_representative_is_not_accepted(hub: Hub, rng: random.Random):
    dossier = dossier_code(hub.seq())
    filing = business_filing(hub.sandbox.population, rng)
    filing["legal_representative"]["full_name"] = "Người Khác Tên"
    await hub.sandbox.portal.file("business_registration", dossier, filing)

    assert await hub.wait_final(dossier) is S.NOT_ACCEPTED
    assert "does not match the registry" in hub.sandbox.portal.current(dossier).reason
    assert hub.sandbox.tax.effects.for_dossier(dossier) == []
