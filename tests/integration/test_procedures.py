"""Procedures are data: a procedure file the product does not ship runs end to end, and
independent steps really run in parallel."""

from __future__ import annotations

import random

from contracts.status import DossierStatus as S
from infra.pytest_plugin import Hub
from infra.sandbox.population import Gate
from infra.sandbox.samples import birth_filing
from streams.normalize import justice_birth


def canonical_birth(hub: Hub, rng: random.Random) -> tuple[str, dict]:
    native = birth_filing(hub.sandbox.population, rng, hub.seq())
    return native["ma_ho_so"], justice_birth(native).filing


async def test_a_procedure_defined_only_in_a_fixture_directory_runs_end_to_end(hub: Hub, rng: random.Random):
    dossier, filing = canonical_birth(hub, rng)
    await hub.sandbox.portal.file("parents_check", dossier, filing)

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    assert [u.status for u in hub.sandbox.portal.timelines[dossier]] == [
        S.NEWLY_REGISTERED,
        S.ACCEPTED,
        S.PROCESSED,
        S.RESULT_RETURNED,
    ]
    mother = hub.sandbox.population.citizens[filing["mother"]["personal_id"]]
    father = hub.sandbox.population.citizens[filing["father"]["personal_id"]]
    assert hub.sandbox.portal.documents[dossier] == {
        "mother_commune": mother.commune_code,
        "father_commune": father.commune_code,
    }


async def test_independent_steps_are_in_flight_together(hub: Hub, rng: random.Random, switch):
    gate = Gate(expected=2, timeout_s=10)
    switch(hub.sandbox.population, "verify_gate", gate)
    dossier, filing = canonical_birth(hub, rng)
    await hub.sandbox.portal.file("birth_bundle", dossier, filing)
    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    # Both parents' verifications reached the registry before it answered either of them.
    assert gate.met, f"only {gate.arrived} verification(s) arrived before the first was answered"


async def test_a_filing_for_an_unknown_procedure_is_dead_lettered_with_the_reason(hub: Hub, rng: random.Random):
    dossier, filing = canonical_birth(hub, rng)
    await hub.sandbox.portal.file("marriage_bundle", dossier, filing)
    await hub.watcher.wait_for(
        lambda: any(letter.key == dossier.encode() for letter in hub.watcher.dead_letters),
        30,
        "the filing to be dead-lettered",
    )
    (letter,) = [letter for letter in hub.watcher.dead_letters if letter.key == dossier.encode()]
    assert letter.reason.startswith("invalid filing: procedure: unknown procedure 'marriage_bundle' (known: ")
    assert letter.headers["stage"] == "ingest.portal"
