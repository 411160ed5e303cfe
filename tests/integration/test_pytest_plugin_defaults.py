"""lienthong's pytest plugin with nothing overridden: every sandbox agency runs, none is under test."""

from __future__ import annotations

import random

from contracts.status import DossierStatus as S
from infra.pytest_plugin import Hub
from infra.sandbox.samples import birth_filing


async def test_with_no_agency_under_test_every_sandbox_agency_answers(lienthong_hub: Hub, rng: random.Random):
    hub = lienthong_hub
    assert hub.agency is None and hub.sandbox.without is None
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    await hub.sandbox.justice.file_birth(filing)

    assert await hub.wait_final(filing["ma_ho_so"]) is S.RESULT_RETURNED
    assert hub.sandbox.portal.documents[filing["ma_ho_so"]]["personal_id"]
