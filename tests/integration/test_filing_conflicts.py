"""No silent discard: a filing under a dossier code the hub already has, with other content, or
with a field wrong, is refused to the agency that filed it and dead-lettered with the reason; the
same filing again changes nothing, and the first dossier goes on."""

from __future__ import annotations

import random

from contracts.status import DossierStatus as S
from contracts.topics import dlq_fields
from infra.pytest_plugin import Hub, records_arriving, wait_until
from infra.sandbox.samples import birth_filing, dossier_code
from streams.normalize import justice_birth


async def test_a_conflicting_filing_is_refused_to_its_filer_and_dead_lettered(hub: Hub, rng: random.Random):
    native = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = native["ma_ho_so"]
    await hub.sandbox.portal.file("birth_bundle", dossier, justice_birth(native).filing)
    await hub.sandbox.portal.file("birth_bundle", dossier, justice_birth(native).filing)  # the same again
    # Outboxes are not ordered with each other: the second filer files once the first dossier is open.
    await wait_until(lambda: hub.sandbox.portal.current(dossier), 60, "the portal's dossier to open")

    other = birth_filing(hub.sandbox.population, rng, hub.seq()) | {"ma_ho_so": dossier}  # another child
    await hub.sandbox.justice.file_birth(other)

    await wait_until(lambda: hub.sandbox.justice.refusals.get(dossier), 60, "the hub to tell justice")
    (refused,) = hub.sandbox.justice.refusals[dossier]
    assert refused.reason == f"dossier code {dossier} was already filed with other content: file under a new code"
    letter = await letter_for(hub, dossier)
    assert (letter["code"], letter["stage"]) == ("filing_conflict", "orchestrate")

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED  # the first filing's dossier, untouched
    assert hub.sandbox.portal.refusals.get(dossier) is None  # its repeat was no conflict
    assert len(hub.sandbox.justice.effects.for_dossier(dossier)) == 1  # one birth registered, not two


async def letter_for(hub: Hub, dossier: str) -> dict[str, str]:
    """The one dead letter keyed ``dossier``: why and where from."""
    (letter,) = await records_arriving(hub.operator, hub.topics.deadletter, dossier, 30, f"{dossier}'s dead letter")
    return dlq_fields(letter.headers)


async def test_a_filing_with_a_field_wrong_is_refused_to_its_filer_naming_the_field(hub: Hub, rng: random.Random):
    native = birth_filing(hub.sandbox.population, rng, hub.seq()) | {"so_dinh_danh_me": "0931950001"}
    dossier = native["ma_ho_so"]
    await hub.sandbox.justice.file_birth(native)  # in justice's own format
    await wait_until(lambda: hub.sandbox.justice.refusals.get(dossier), 60, "the hub to tell justice")
    (refused,) = hub.sandbox.justice.refusals[dossier]
    assert (refused.procedure, refused.reason) == (
        "birth_bundle",
        "invalid filing: so_dinh_danh_me: personal ID number must be 12 digits (got 10 characters)",
    )
    letter = await letter_for(hub, dossier)
    assert (letter["code"], letter["stage"]) == ("rejected", "ingest.justice")

    filing = justice_birth(birth_filing(hub.sandbox.population, rng, hub.seq())).filing
    code = dossier_code(hub.seq())
    await hub.sandbox.portal.file("birth_bundle", code, filing | {"birth_notice_no": ""})  # as an envelope
    await wait_until(lambda: hub.sandbox.portal.refusals.get(code), 60, "the hub to tell the portal")
    (refused,) = hub.sandbox.portal.refusals[code]
    assert refused.reason.startswith("invalid filing: birth_notice_no:")
    assert hub.sandbox.portal.current(code) is None  # no dossier was opened
