"""Procedures with a payment: land-use right transfer and the criminal-record certificate, and
how the hub guards the payment gateway's signed callback."""

from __future__ import annotations

import json
import random
import time

from contracts.envelope import Envelope
from contracts.events import PAYMENT_NOTIFIED
from contracts.status import DossierStatus as S
from infra.pytest_plugin import Hub, read_topic, wait_until
from infra.sandbox.samples import criminal_record_filing, dossier_code, land_transfer_filing


def statuses(hub: Hub, dossier: str) -> list[S]:
    return [u.status for u in hub.sandbox.portal.timelines[dossier]]


async def test_land_transfer_obligations_are_computed_paid_and_confirmed(hub: Hub, rng: random.Random):
    dossier = dossier_code(hub.seq())
    await hub.sandbox.portal.file("land_transfer", dossier, land_transfer_filing(hub.sandbox.population, rng))

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    assert statuses(hub, dossier) == [
        S.NEWLY_REGISTERED,
        S.ACCEPTED,
        S.PROCESSING,
        S.FINANCIAL_OBLIGATION_REQUESTED,
        S.PROCESSING,
        S.PROCESSED,
        S.RESULT_RETURNED,
    ]
    documents = hub.sandbox.portal.documents[dossier]
    notice = hub.sandbox.tax.notices[documents["tax_notice_no"]]
    assert (notice["registration_fee_vnd"], notice["personal_income_tax_vnd"], notice["total_vnd"]) == (
        7_500_000,
        30_000_000,
        37_500_000,
    )
    assert notice["paid"]
    payment = hub.sandbox.payment.by_reference(f"{dossier}/collect_obligations")
    assert payment["amount_vnd"] == 37_500_000 and payment["transaction_id"] == documents["payment_transaction"]
    notice_effect, _confirmation = hub.sandbox.tax.effects.for_dossier(dossier)
    assert notice_effect.data["commune_code"] == "31333"  # filed as pre-merger 31327, sent as today's unit


async def test_payment_callbacks_are_checked_and_a_repeat_counts_once(hub: Hub, rng: random.Random, switch):
    gateway = hub.sandbox.payment
    switch(gateway, "auto_pay_after_s", None)  # the citizen pays when the test says so
    letters_before = len(hub.watcher.dead_letters)

    def payment_letters() -> list[str]:  # this test's, not the session's
        return [letter.reason for letter in hub.watcher.dead_letters[letters_before:] if "payment" in letter.reason]

    dossier = dossier_code(hub.seq())
    await hub.sandbox.portal.file("land_transfer", dossier, land_transfer_filing(hub.sandbox.population, rng))
    reference = f"{dossier}/collect_obligations"
    await wait_until(lambda: gateway.by_reference(reference), 30, "the payment request")
    await wait_until(lambda: S.FINANCIAL_OBLIGATION_REQUESTED in statuses(hub, dossier), 30, "status 6")
    txn = gateway.by_reference(reference)["transaction_id"]
    gateway.payments[txn].update(status="paid", paid_at="2026-11-26T03:00:00+00:00")

    # A forged signature is refused outright.
    assert await gateway.notify(txn, secret=b"not-the-secret") == 401
    # An unknown reference and a wrong amount are accepted for checking, then dead-lettered.
    unknown = json.loads(gateway.notification(txn, reference=f"{dossier_code(hub.seq())}/collect_obligations"))
    assert await gateway.notify(txn, body=json.dumps(unknown).encode()) == 202
    assert await gateway.notify(txn, body=gateway.notification(txn, amount_vnd=1000)) == 202
    await hub.watcher.wait_for(lambda: len(payment_letters()) >= 2, 30, "both bad notifications")
    reasons = payment_letters()
    assert len(reasons) == 2 and any(r.startswith("unknown payment reference") for r in reasons)
    assert f"payment {txn} of 1000 VND does not match the 37500000 VND requested for {reference}" in reasons
    assert statuses(hub, dossier)[-1] is S.FINANCIAL_OBLIGATION_REQUESTED  # still waiting to be paid

    # The genuine notification completes the dossier. A captured copy sent again, or one signed an
    # hour ago, is refused at the door; the gateway's own re-delivery (signed afresh) counts once.
    body, headers = gateway.signed(txn)
    assert await gateway.post(txn, body, headers) == 202
    assert await gateway.post(txn, body, headers) == 401
    assert await gateway.post(txn, *gateway.signed(txn, timestamp=int(time.time()) - 3600)) == 401
    assert await gateway.notify(txn) == 202
    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    received = [
        t for t in hub.watcher.transitions[dossier] if t.step == "collect_obligations" and t.state == "succeeded"
    ]
    assert len(received) == 1
    assert len([e for e in hub.sandbox.tax.effects.for_dossier(dossier) if e.kind == "confirm_obligations"]) == 1
    written = [
        Envelope.from_bytes(r.value) for r in await read_topic(hub.operator, hub.topics.outbox("payment"), dossier)
    ]
    assert len([e for e in written if e.type == PAYMENT_NOTIFIED]) == 3  # wrong amount, genuine, re-delivery


async def test_criminal_record_certificate_with_vneid_level_2(hub: Hub, rng: random.Random):
    dossier = dossier_code(hub.seq())
    await hub.sandbox.portal.file(
        "criminal_record", dossier, criminal_record_filing(hub.sandbox.population, rng, vneid_level=2)
    )

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    assert hub.sandbox.portal.documents[dossier]["certificate_no"].startswith("LLTP-")
    assert hub.sandbox.payment.by_reference(f"{dossier}/collect_fee")["amount_vnd"] == 200_000
    assert S.FINANCIAL_OBLIGATION_REQUESTED in statuses(hub, dossier)


async def test_criminal_record_with_vneid_level_1_is_refused_with_the_reason(hub: Hub, rng: random.Random):
    dossier = dossier_code(hub.seq())
    await hub.sandbox.portal.file(
        "criminal_record", dossier, criminal_record_filing(hub.sandbox.population, rng, vneid_level=1)
    )

    assert await hub.wait_final(dossier) is S.NOT_ACCEPTED
    reason = hub.sandbox.portal.current(dossier).reason
    assert reason.startswith(
        "check_vneid (population): the applicant's VNeID account is level 1; this procedure requires level 2"
    )
    assert hub.sandbox.payment.by_reference(f"{dossier}/collect_fee") is None  # no fee was asked
    assert hub.sandbox.justice.effects.for_dossier(dossier) == []


async def test_a_transfer_stopped_after_payment_refunds_the_citizen_once(hub: Hub, rng: random.Random, switch):
    switch(hub.sandbox.tax, "refuse_confirmations", 1)
    dossier = dossier_code(hub.seq())
    await hub.sandbox.portal.file("land_transfer", dossier, land_transfer_filing(hub.sandbox.population, rng))

    assert await hub.wait_final(dossier) is S.PROCESSING_STOPPED
    assert "court seizure order" in hub.sandbox.portal.current(dossier).reason
    payment = hub.sandbox.payment.by_reference(f"{dossier}/collect_obligations")
    await hub.watcher.wait_for(
        lambda: any(
            t.step == "collect_obligations:compensate" and t.state == "succeeded"
            for t in hub.watcher.transitions[dossier]
        ),
        30,
        "the refund",
    )
    assert payment["status"] == "refunded"
    refunds = [
        e
        for e in hub.sandbox.payment.effects.of_kind("refunded")
        if e.data["transaction_id"] == payment["transaction_id"]
    ]
    assert len(refunds) == 1 and refunds[0].data["amount_vnd"] == payment["amount_vnd"]
