"""The chaos run's injector against a real hub: every malformed or forged record it writes is
dead-lettered with the code, stage and reason its kind says, and the hub keeps working."""

from __future__ import annotations

import random
import uuid

from contracts.status import DossierStatus as S
from infra.harness.broker import ClientFiles
from infra.harness.injector import KINDS, check_dead_letters, inject
from infra.pytest_plugin import Hub, wait_until
from infra.sandbox.samples import birth_filing, dossier_code, land_transfer_filing


async def test_every_injected_record_is_dead_lettered_with_its_reason_and_the_hub_carries_on(
    hub: Hub, kafka: ClientFiles, rng: random.Random
):
    known = dossier_code(hub.seq())  # filed by the portal: justice may not withdraw it
    await hub.sandbox.portal.file("land_transfer", known, land_transfer_filing(hub.sandbox.population, rng))
    await wait_until(lambda: hub.sandbox.portal.current(known) is not None, 30, "the hub to open the land transfer")

    run_id = uuid.uuid4().hex[:8]
    counts = await inject(kafka, hub.topics, hub.sandbox.keyring, 2 * len(KINDS), run_id, known_dossier=known)
    assert counts == {kind.name: 2 for kind in KINDS}

    report = await check_dead_letters(kafka, hub.topics, run_id, counts, timeout_s=60)
    assert report.ok, report.summary()
    assert report.found == counts

    # Still healthy: the forged withdrawals changed nothing, and a new dossier goes through.
    assert await hub.wait_final(known) is S.RESULT_RETURNED
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    await hub.sandbox.justice.file_birth(filing)
    assert await hub.wait_final(filing["ma_ho_so"]) is S.RESULT_RETURNED
