"""The worker dies mid-flight (SIGKILL, no commit, no goodbye); a new one resumes every dossier
from the saga changelog, the agencies still perform each step once and the portal shows each
status once."""

from __future__ import annotations

import random

from aiokafka import AIOKafkaProducer

from contracts.status import DossierStatus as S
from infra.harness.broker import ClientFiles
from infra.pytest_plugin import Hub, read_topic, wait_until
from infra.sandbox.samples import birth_filing
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
        # Statuses the new worker emitted again carry the ids of the first emission: shown once.
        shown = [u.status for u in hub.sandbox.portal.timelines[dossier]]
        assert len(shown) == len(set(shown)), shown
        # The new worker may send a step again (it cannot know what the dead one sent), but only
        # under the same idempotency key, so each agency performed it once.
        await hub.assert_each_step_performed_once(dossier, BIRTH_BUNDLE_EFFECTS)


async def test_a_status_the_hub_emits_again_is_shown_once(hub: Hub, kafka: ClientFiles, rng: random.Random):
    """What a restarted worker re-emits carries the first emission's id (and signature): the portal
    recognises it and shows the status once."""
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = filing["ma_ho_so"]
    await hub.sandbox.justice.file_birth(filing)
    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    portal = hub.sandbox.portal
    shown, read = [u.status for u in portal.timelines[dossier]], portal.records_read
    records = await read_topic(hub.operator, hub.topics.inbox("portal"), dossier)
    producer = AIOKafkaProducer(**kafka.client("hub").aiokafka(), acks="all")
    await producer.start()
    try:
        for record in records:  # the very records, as a re-emission after a crash would write them
            await producer.send_and_wait(record.topic, key=record.key, value=record.value, headers=list(record.headers))
    finally:
        await producer.stop()
    await wait_until(lambda: portal.records_read >= read + len(records), 30, "the portal to read the copies")
    assert [u.status for u in portal.timelines[dossier]] == shown
