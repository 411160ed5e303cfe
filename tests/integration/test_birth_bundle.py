"""The birth bundle end to end: real broker, hub worker, sandbox agencies over Kafka, REST, SOAP."""

from __future__ import annotations

import random
import re

from connectors.kafka_client import partition_for
from contracts.envelope import Envelope
from contracts.events import DOSSIER_FILED
from contracts.status import DossierStatus as S
from infra.pytest_plugin import Hub, read_topic, wait_until
from infra.sandbox.samples import birth_filing, dossier_code, unknown_mother_id

HAPPY_TIMELINE = [S.NEWLY_REGISTERED, S.ACCEPTED, S.PROCESSING, S.PROCESSED, S.RESULT_RETURNED]
BIRTH_BUNDLE_EFFECTS = {  # agency -> step -> effects it leaves (the verifications only read)
    "population": {"verify_mother": 0, "verify_father": 0, "assign_personal_id": 1, "register_residence": 1},
    "justice": {"register_birth": 1},
    "insurance": {"issue_health_card": 1},
    "portal": {"return_result": 1},
}


def timeline(hub: Hub, dossier_id: str) -> list[S]:
    return [u.status for u in hub.sandbox.portal.timelines[dossier_id]]


def redispatches(hub: Hub, dossier_id: str, step: str) -> int:
    return sum(t.step == step and t.state == "redispatched" for t in hub.watcher.transitions[dossier_id])


async def test_birth_dossier_reaches_result_returned_with_records_at_every_agency(hub: Hub, rng: random.Random):
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = filing["ma_ho_so"]
    await hub.sandbox.justice.file_birth(filing)

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    assert timeline(hub, dossier) == HAPPY_TIMELINE

    population, insurance = hub.sandbox.population, hub.sandbox.insurance
    (assigned,) = [e for e in population.effects.for_dossier(dossier) if e.kind == "personal_id_assigned"]
    child_id = assigned.data["personal_id"]
    child = population.citizens[child_id]
    assert child.full_name == filing["ho_ten_tre"]
    assert child_id.startswith("092")  # registered in today's Cần Thơ
    assert population.residences[child_id]["commune_code"] == "31360"
    assert population.residences[child_id]["household_member_id"] == filing["so_dinh_danh_me"]

    card = insurance.cards[child_id]
    assert card["BeneficiaryGroup"] == "TE"
    assert re.fullmatch(r"TE192\d{10}", card["CardNumber"]) and card["CardNumber"].endswith(child_id[-10:])
    assert len(insurance.effects.for_dossier(dossier)) == 1

    (birth,) = hub.sandbox.justice.effects.for_dossier(dossier)
    assert hub.sandbox.portal.documents[dossier] == {
        "birth_certificate_no": birth.data["birth_certificate_no"],
        "personal_id": child_id,
        "residence_id": population.residences[child_id]["residence_id"],
        "health_card_number": card["CardNumber"],
    }
    # the filing agency hears every status too
    await wait_until(
        lambda: len(hub.sandbox.justice.statuses[dossier]) == len(HAPPY_TIMELINE), 30, "justice to receive every status"
    )


async def test_pre_merger_commune_codes_are_registered_under_the_current_unit(hub: Hub, rng: random.Random):
    filing = birth_filing(hub.sandbox.population, rng, hub.seq(), pre_merger_units=True)
    assert (filing["ma_tinh"], filing["ma_xa"]) == ("93", "31359")
    await hub.sandbox.justice.file_birth(filing)

    assert await hub.wait_final(filing["ma_ho_so"]) is S.RESULT_RETURNED
    child_id = hub.sandbox.portal.documents[filing["ma_ho_so"]]["personal_id"]
    assert hub.sandbox.population.residences[child_id]["commune_code"] == "31360"


async def test_unknown_mother_is_not_accepted_and_the_portal_shows_why_without_her_id(hub: Hub, rng: random.Random):
    mother_id = unknown_mother_id(hub.sandbox.population, rng)
    filing = birth_filing(hub.sandbox.population, rng, hub.seq(), mother_id=mother_id)
    dossier = filing["ma_ho_so"]
    await hub.sandbox.justice.file_birth(filing)

    assert await hub.wait_final(dossier) is S.NOT_ACCEPTED
    final = hub.sandbox.portal.current(dossier)
    assert final.label == "Không được tiếp nhận"
    # The registry's answer quotes her personal ID; the status and the operators' stream do not.
    assert final.reason == "verify_mother (population): personal ID *** is not in the population registry"
    assert timeline(hub, dossier) == [S.NEWLY_REGISTERED, S.NOT_ACCEPTED]
    assert mother_id not in repr(hub.watcher.transitions[dossier])
    assert hub.sandbox.justice.effects.for_dossier(dossier) == []
    assert hub.sandbox.insurance.effects.for_dossier(dossier) == []


async def test_malformed_messages_are_dead_lettered_and_the_next_dossier_still_completes(hub: Hub, rng: random.Random):
    garbage = b'{"loai_ho_so": "khai_sinh", "ma_ho_so": '
    bad_key = dossier_code(hub.seq())
    await hub.sandbox.justice.send_outbox(bad_key, garbage)
    bad_id = birth_filing(hub.sandbox.population, rng, hub.seq()) | {"so_dinh_danh_me": "0931950001"}
    await hub.sandbox.justice.file_birth(bad_id)
    good = birth_filing(hub.sandbox.population, rng, hub.seq())
    await hub.sandbox.justice.file_birth(good)

    assert await hub.wait_final(good["ma_ho_so"]) is S.RESULT_RETURNED
    await hub.watcher.wait_for(
        lambda: {bad_key, bad_id["ma_ho_so"]} <= {letter.key.decode() for letter in hub.watcher.dead_letters},
        30,
        "both dead letters",
    )
    letters = {letter.key.decode(): letter for letter in hub.watcher.dead_letters}

    unparseable = letters[bad_key]
    assert unparseable.value == garbage  # the original bytes, untouched
    assert unparseable.reason.startswith("not JSON")
    assert unparseable.headers["stage"] == "ingest.justice"
    assert unparseable.headers["topic"].endswith("agency.justice.outbox")

    invalid = letters[bad_id["ma_ho_so"]]
    assert invalid.reason == "invalid filing: so_dinh_danh_me: personal ID number must be 12 digits (got 10 characters)"
    assert bad_id["ma_ho_so"] not in hub.sandbox.portal.timelines


async def test_agency_outage_is_retried_and_every_effect_happens_once(hub: Hub, rng: random.Random, switch):
    switch(hub.sandbox.population, "unavailable_for", 2)
    switch(hub.sandbox.insurance, "server_faults_for", 1)
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = filing["ma_ho_so"]
    await hub.sandbox.justice.file_birth(filing)

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    assert hub.sandbox.population.unavailable_for == 0 and hub.sandbox.insurance.server_faults_for == 0
    await hub.assert_each_step_performed_once(dossier, BIRTH_BUNDLE_EFFECTS)


async def test_a_dossier_filed_twice_is_processed_once(hub: Hub, rng: random.Random):
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = filing["ma_ho_so"]
    await hub.sandbox.justice.file_birth(filing)
    await hub.sandbox.justice.file_birth(filing)

    # Both filings share the dossier's partition and precede every reply in it, so by the time the
    # dossier is final the hub has seen the duplicate.
    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    assert timeline(hub, dossier) == HAPPY_TIMELINE
    await hub.assert_each_step_performed_once(dossier, BIRTH_BUNDLE_EFFECTS)
    # The duplicate started nothing: each command went out once, plus once per timeout re-send.
    for agency, steps in BIRTH_BUNDLE_EFFECTS.items():
        sent = await hub.commands_sent(agency, dossier)
        assert {step: len(sent[step]) for step in steps} == {
            step: 1 + redispatches(hub, dossier, step) for step in steps
        }


async def test_a_filing_keyed_otherwise_reaches_its_saga_through_the_dossier_events_topic(hub: Hub, rng: random.Random):
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = filing["ma_ho_so"]
    saga_partition = partition_for(dossier.encode(), hub.topics.partitions)
    key = next(
        k
        for k in (f"batch-{n}" for n in range(100))
        if partition_for(k.encode(), hub.topics.partitions) != saga_partition
    )
    await hub.sandbox.justice.send_json(key, filing)  # on another partition than its saga's

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    assert timeline(hub, dossier) == HAPPY_TIMELINE
    forwarded = await read_topic(hub.operator, hub.topics.dossier_events, dossier)
    assert [Envelope.from_bytes(r.value).type for r in forwarded] == [DOSSIER_FILED]


async def test_a_lost_reply_makes_the_hub_send_again_and_the_agency_answers_from_its_record(
    hub: Hub, rng: random.Random
):
    justice = hub.sandbox.justice
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = filing["ma_ho_so"]
    async with justice.replies_held(dossier) as lost:  # justice registers the birth, but its replies are lost
        await justice.file_birth(filing)
        await wait_until(lambda: len(lost) >= 2, 30, "justice to answer register_birth and a re-send of it")

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    sends = (await hub.commands_sent("justice", dossier))["register_birth"]
    assert len(sends) >= 3 and len({e.idempotencykey for e in sends}) == 1  # two answers lost, the third got through
    (birth,) = justice.effects.for_dossier(dossier)  # registered once
    assert lost[0].data["result"] == lost[1].data["result"] == birth.response  # the re-send got the first answer
    assert hub.sandbox.portal.documents[dossier]["birth_certificate_no"] == birth.data["birth_certificate_no"]
    assert redispatches(hub, dossier, "register_birth") >= 2


async def test_dead_letters_replay_to_their_source_topic_byte_for_byte(hub: Hub):
    from infra.dlq import read_all, replay

    key = dossier_code(hub.seq())
    original = b"\x00not json at all\xff"
    await hub.sandbox.justice.send_outbox(key, original)
    await hub.watcher.wait_for(
        lambda: any(letter.key == key.encode() for letter in hub.watcher.dead_letters), 30, "the first dead letter"
    )

    stored = [letter for letter in await read_all(hub.operator, hub.topics) if letter.key == key.encode()]
    assert [letter.value for letter in stored] == [original]
    assert await replay(hub.operator, stored) == 1

    await hub.watcher.wait_for(
        lambda: sum(letter.key == key.encode() for letter in hub.watcher.dead_letters) == 2,
        30,
        "the replayed record to come back through ingest",
    )
    again = [letter for letter in hub.watcher.dead_letters if letter.key == key.encode()][-1]
    assert again.value == original and again.headers["stage"] == "ingest.justice"
