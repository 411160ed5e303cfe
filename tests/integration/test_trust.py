"""A message counts only from the party entitled to send it, as an attacker would try it on the real
broker: each forgery below is written with the credentials of an agency that may write that outbox
(so the broker lets it in), and each must land in the dead-letter topic with its reason code and
change nothing at any agency."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from contracts.envelope import Envelope, envelope_headers
from contracts.events import DOSSIER_WITHDRAWN, STEP_REPLY, Alert, DossierWithdrawn, Outcome, StepReply
from contracts.record_signing import Signer, generate_keyring
from contracts.status import DossierStatus as S
from infra.harness.broker import ClientFiles
from infra.pytest_plugin import Hub, read_topic, wait_until
from infra.sandbox.samples import dossier_code, land_transfer_filing
from infra.watch import DeadLetter


async def write(kafka: ClientFiles, principal: str, topic: str, key: str, value: bytes, headers) -> None:
    producer = AIOKafkaProducer(**kafka.client(principal).aiokafka(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=key.encode(), value=value, headers=headers)
    finally:
        await producer.stop()


def envelope(dossier: str, agency: str, type_: str, data, key: str | None = None) -> bytes:
    return Envelope(
        source=f"/agency/{agency}",
        type=type_,
        subject=dossier,
        correlationid="forged",
        idempotencykey=key,
        data=data.model_dump(mode="json"),
    ).to_bytes()


async def dead_letter(hub: Hub, key: str, code: str) -> DeadLetter:
    def found() -> list[DeadLetter]:
        return [d for d in hub.watcher.dead_letters if d.key == key.encode() and d.headers.get("code") == code]

    await hub.watcher.wait_for(lambda: bool(found()), 30, f"a {code} dead letter for {key}")
    return found()[-1]


async def test_forged_replayed_and_wrong_party_messages_are_dead_lettered_and_change_nothing(
    hub: Hub, kafka: ClientFiles, rng: random.Random, switch, tmp_path
):
    switch(hub.sandbox.payment, "auto_pay_after_s", None)  # the citizen has not paid yet
    began = datetime.now(UTC)
    dossier = dossier_code(hub.seq())
    await hub.sandbox.portal.file("land_transfer", dossier, land_transfer_filing(hub.sandbox.population, rng))
    reference = f"{dossier}/collect_obligations"
    await wait_until(lambda: hub.sandbox.payment.by_reference(reference), 30, "the payment request")
    tax_outbox, keyring = hub.topics.outbox("tax"), hub.sandbox.keyring
    paid = StepReply(
        step="collect_obligations",
        action="collect_payment",
        agency="tax",
        outcome=Outcome.SUCCEEDED,
        result={"transaction_id": "FAKE", "amount_vnd": 1, "paid_at": "2026-11-26T03:00:00Z"},
    )
    forged_payment = envelope(dossier, "tax", STEP_REPLY, paid, reference)

    # 1. A compromised tax system, signing with its own key, says the citizen paid 1 đồng.
    await write(
        kafka, "tax", tax_outbox, dossier, forged_payment, Signer.load(keyring, "tax-1").headers(forged_payment)
    )
    letter = await dead_letter(hub, dossier, "not_entitled")
    assert letter.reason == "reply for collect_obligations from tax: the step was sent to payment"
    assert letter.value == forged_payment  # the original bytes, for the investigation

    # 2. The same bytes signed with a key that is not tax's (an attacker's own "tax-1").
    impostor = tmp_path / "impostor-keys"
    generate_keyring(impostor, ["tax-1"])
    await write(
        kafka, "tax", tax_outbox, dossier, forged_payment, Signer.load(impostor, "tax-1").headers(forged_payment)
    )
    letter = await dead_letter(hub, dossier, "signature")
    assert letter.reason == "signature: signature by 'tax-1' does not match the record"

    # 3. Unsigned, and justice's key on tax's outbox.
    await write(kafka, "tax", tax_outbox, dossier, forged_payment, envelope_headers())
    justice_signed = Signer.load(keyring, "justice-1").headers(forged_payment)
    await write(kafka, "tax", tax_outbox, dossier, forged_payment, justice_signed)
    await wait_until(
        lambda: (
            sum(d.key == dossier.encode() and d.headers.get("code") == "signature" for d in hub.watcher.dead_letters)
            >= 3
        ),
        30,
        "the unsigned and the foreign-key records",
    )

    # 4. A genuine tax record captured and replayed twenty minutes later.
    old = Signer.load(keyring, "tax-1").headers(forged_payment, datetime.now(UTC) - timedelta(minutes=20))
    await write(kafka, "tax", tax_outbox, dossier, forged_payment, old)
    assert (await dead_letter(hub, dossier, "stale")).reason.startswith("stale: signed 1200 s ago")

    # 5. Justice withdraws the citizen's land transfer, which the portal filed.
    withdrawal = envelope(dossier, "justice", DOSSIER_WITHDRAWN, DossierWithdrawn())
    await write(
        kafka,
        "justice",
        hub.topics.outbox("justice"),
        dossier,
        withdrawal,
        Signer.load(keyring, "justice-1").headers(withdrawal),
    )
    letter = await wait_until_reason(hub, dossier, "justice may not withdraw a land_transfer dossier filed by portal")

    # Nothing changed: the dossier still waits for its payment, tax confirmed nothing, nothing refunded.
    assert hub.sandbox.portal.current(dossier).status is S.FINANCIAL_OBLIGATION_REQUESTED
    assert "confirm_obligations" not in await hub.commands_sent("tax", dossier)
    assert [e.kind for e in hub.sandbox.payment.effects.for_dossier(dossier)] == []
    # The genuine payment still completes it.
    await hub.sandbox.payment.pay(hub.sandbox.payment.by_reference(reference)["transaction_id"])
    assert await hub.wait_final(dossier) is S.RESULT_RETURNED

    # Operators were alerted: forged messages are piling up at tax's ingest. (Wait for this test's
    # own: a window closing after it began may still hold an earlier test's dead letters.)
    async def forgery_alerts() -> list[Alert]:
        records = await read_topic(hub.operator, hub.topics.alerts, "ingest.tax")
        alerts = [a for r in records if (a := Alert.model_validate_json(r.value)).at > began]
        return [a for a in alerts if "signature ×" in a.message]

    deadline = time.monotonic() + 30
    while not (alerts := await forgery_alerts()):
        assert time.monotonic() < deadline, "no dead_letters alert naming the forged signatures at ingest.tax"
        await asyncio.sleep(1)
    assert alerts[0].kind == "dead_letters" and "forged" in alerts[0].action


async def wait_until_reason(hub: Hub, key: str, reason: str) -> DeadLetter:
    def found() -> list[DeadLetter]:
        return [d for d in hub.watcher.dead_letters if d.key == key.encode() and d.reason == reason]

    await hub.watcher.wait_for(lambda: bool(found()), 30, f"a dead letter saying {reason!r}")
    return found()[-1]


async def test_a_reply_from_the_wrong_agency_counts_for_nothing(hub: Hub, kafka: ClientFiles, rng: random.Random):
    dossier = dossier_code(hub.seq())
    # Tax's real answer waits while justice tries to give one.
    async with hub.sandbox.tax.replies_held(dossier, deliver=True) as held:
        await hub.sandbox.portal.file("land_transfer", dossier, land_transfer_filing(hub.sandbox.population, rng))
        await wait_until(lambda: bool(held), 30, "tax to compute the obligations")
        notice = StepReply(
            step="compute_obligations",
            action="compute_land_obligations",
            agency="justice",
            outcome=Outcome.SUCCEEDED,
            result={
                "notice_no": "TB-FAKE",
                "registration_fee_vnd": 0,
                "personal_income_tax_vnd": 0,
                "land_use_fee_vnd": 0,
                "total_vnd": 1,
            },
        )
        value = envelope(dossier, "justice", STEP_REPLY, notice, f"{dossier}/compute_obligations")
        signed = Signer.load(hub.sandbox.keyring, "justice-1").headers(value)
        await write(kafka, "justice", hub.topics.outbox("justice"), dossier, value, signed)
        letter = await dead_letter(hub, dossier, "not_entitled")
        assert letter.reason == "reply for compute_obligations from justice: the step was sent to tax"
    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    confirmed = (await hub.commands_sent("tax", dossier))["confirm_obligations"][0]
    assert confirmed.data["params"]["notice_no"] != "TB-FAKE"


async def test_an_oversized_record_is_dead_lettered_unread_with_its_size(hub: Hub):
    key = dossier_code(hub.seq())
    huge = b'{"loai_ho_so": "khai_sinh", "noi_sinh": "' + b"x" * 300_000 + b'"}'
    await hub.sandbox.justice.send_outbox(key, huge)  # signed by justice: only the size is wrong
    letter = await wait_until_reason(hub, key, f"record of {len(huge)} bytes is over the 262144-byte limit")
    assert letter.value == huge and letter.headers["code"] == "rejected"
