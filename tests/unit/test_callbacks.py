"""The payment callback endpoint alone: signed notifications in, envelopes out through an injected
``send`` (no broker)."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from contracts.envelope import Envelope
from contracts.events import PAYMENT_NOTIFIED, PaymentNotification
from contracts.signing import SIGNATURE_HEADER, sign
from streams.callbacks import callback_app
from tests.unit.fakes import Outbox

SECRET = b"shared-with-the-gateway"
OUTBOX = "agency.payment.outbox"
PAID = {
    "reference": "000.00.31.H26-261126-0777/collect_fee",
    "transaction_id": "PG00000001",
    "amount_vnd": 50_000,
    "status": "paid",
    "paid_at": "2026-11-26T03:00:00+00:00",
}


@pytest.fixture
async def endpoint():
    outbox = Outbox()
    async with TestClient(TestServer(callback_app(SECRET, OUTBOX, outbox.send))) as client:
        yield client, outbox


async def notify(client: TestClient, body: bytes, signature: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"} | ({SIGNATURE_HEADER: signature} if signature else {})
    response = await client.post("/callbacks/payment", data=body, headers=headers)
    return response.status, await response.json()


async def test_a_signed_notification_is_accepted_and_sent_once_keyed_by_its_dossier(endpoint):
    client, outbox = endpoint
    body = json.dumps(PAID).encode()
    assert await notify(client, body, sign(SECRET, body)) == (202, {"status": "accepted"})
    [(topic, key, value)] = outbox.records
    envelope = Envelope.from_bytes(value)
    assert (topic, key) == (OUTBOX, b"000.00.31.H26-261126-0777")
    assert (envelope.type, envelope.subject, envelope.source) == (
        PAYMENT_NOTIFIED,
        "000.00.31.H26-261126-0777",
        "/connector/payment",
    )
    assert envelope.idempotencykey == "paid:000.00.31.H26-261126-0777/collect_fee"
    assert envelope.payload(PaymentNotification) == PaymentNotification.model_validate(PAID)


@pytest.mark.parametrize(
    "signature",
    [None, sign(b"not-the-secret", json.dumps(PAID).encode()), sign(SECRET, b"another body"), "sha256=00"],
    ids=["missing", "wrong secret", "other body", "malformed"],
)
async def test_a_notification_without_a_valid_signature_is_refused_and_nothing_sent(endpoint, signature):
    client, outbox = endpoint
    status, problem = await notify(client, json.dumps(PAID).encode(), signature)
    assert (status, problem["title"]) == (401, "Bad signature")
    assert problem["detail"] == f"{SIGNATURE_HEADER}: signature does not match the body"
    assert outbox.records == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (PAID | {"amount_vnd": 0}, "amount_vnd: Input should be greater than 0"),
        ({k: v for k, v in PAID.items() if k != "transaction_id"}, "transaction_id: Field required"),
        (PAID | {"status": "pending"}, "status: Input should be 'paid'"),
        (PAID | {"reference": "nonsense/collect_fee"}, "reference: unknown payment reference 'nonsense/collect_fee'"),
    ],
    ids=["amount", "transaction", "status", "reference"],
)
async def test_a_malformed_notification_is_unprocessable_naming_the_field(endpoint, body, detail):
    client, outbox = endpoint
    raw = json.dumps(body).encode()
    status, problem = await notify(client, raw, sign(SECRET, raw))
    assert (status, problem["title"]) == (422, "Invalid notification")
    assert problem["detail"].startswith(detail)
    assert outbox.records == []


async def test_a_signed_body_that_is_not_json_is_unprocessable(endpoint):
    client, outbox = endpoint
    status, problem = await notify(client, b"paid!", sign(SECRET, b"paid!"))
    assert (status, problem["detail"]) == (422, "Invalid JSON: expected value at line 1 column 1")
    assert outbox.records == []
