"""The worker dies mid-flight (SIGKILL, no commit, no goodbye); a new one resumes every dossier
from the saga changelog and the agencies still perform each step once."""

from __future__ import annotations

import random

from contracts.status import DossierStatus as S
from infra.sandbox.samples import birth_filing
from tests.integration.conftest import Hub
from tests.integration.test_birth_bundle import BIRTH_BUNDLE_EFFECTS


async def test_dossiers_in_flight_survive_a_killed_worker(hub: Hub, rng: random.Random):
    filings = [birth_filing(hub.sandbox.population, rng, hub.seq()) for _ in range(6)]
    for filing in filings:
        await hub.sandbox.justice.file_birth(filing)
    first = filings[0]["ma_ho_so"]
    await hub.watcher.wait_for(
        lambda: any(t.step == "register_birth" for t in hub.watcher.transitions[first]),
        30,
        "the first dossier to reach register_birth",
    )

    hub.worker.kill()
    hub.worker.start()

    for filing in filings:
        dossier = filing["ma_ho_so"]
        assert await hub.wait_final(dossier, timeout_s=90) is S.RESULT_RETURNED
        assert len(hub.sandbox.portal.documents[dossier]) == 4
        # The new worker may send a step again (it cannot know what the dead one sent), but only
        # under the same idempotency key, so each agency performed it once.
        await hub.assert_each_step_performed_once(dossier, BIRTH_BUNDLE_EFFECTS)
