"""The worker dies mid-flight (SIGKILL, no commit, no goodbye); a new one resumes every dossier
from the saga changelog and the agencies still perform each step once."""

from __future__ import annotations

from contracts.status import DossierStatus as S
from infra.sandbox.samples import birth_filing
from tests.integration.conftest import Hub


async def test_dossiers_in_flight_survive_a_killed_worker(hub: Hub):
    filings = [birth_filing(hub.sandbox.population, hub.rng, hub.seq()) for _ in range(6)]
    for filing in filings:
        await hub.sandbox.justice.file_birth(filing)
    first = filings[0]["ma_ho_so"]
    await hub.watcher.wait_for(lambda: any(t.step == "register_birth" for t in hub.watcher.transitions[first]),
                               30, "the first dossier to reach register_birth")

    hub.worker.kill()
    hub.worker.start()

    for filing in filings:
        dossier = filing["ma_ho_so"]
        assert await hub.wait_final(dossier, timeout_s=90) is S.RESULT_RETURNED
        assert len(hub.sandbox.justice.effects.for_dossier(dossier)) == 1
        assert len(hub.sandbox.insurance.effects.for_dossier(dossier)) == 1
        assert sorted(e.kind for e in hub.sandbox.population.effects.for_dossier(dossier)) == [
            "personal_id_assigned", "residence_registered"]
        assert len(hub.sandbox.portal.documents[dossier]) == 4
