"""The payment callback endpoint alone: signed notifications in, envelopes out through an injected
``send`` (no broker). A notification counts only when signed with the secret, fresh and not seen
before."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from contracts.envelope import Envelope
from contracts.events import PAYMENT_NOTIFIED, PaymentNotification
from contracts.signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Check,
    ReplayGuard,
    signed_headers,
    verify,
)
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


async def post(client: TestClient, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    response = await client.post(
        "/callbacks/payment", data=body, headers={"Content-Type": "application/json"} | headers
    )
    return response.status, await response.json()


async def notify(client: TestClient, body: bytes, secret: bytes = SECRET) -> tuple[int, dict]:
    """POST ``body`` signed now, with a fresh nonce, as the gateway does."""
    return await post(client, body, signed_headers(secret, body))


async def test_a_signed_notification_is_accepted_and_sent_once_keyed_by_its_dossier(endpoint):
    client, outbox = endpoint
    body = json.dumps(PAID).encode()
    assert await notify(client, body) == (202, {"status": "accepted"})
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


def _tampered(**changes: str) -> dict[str, str]:
    return signed_headers(SECRET, json.dumps(PAID).encode()) | changes


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, f"{TIMESTAMP_HEADER}, {NONCE_HEADER}, {SIGNATURE_HEADER}: missing"),
        (signed_headers(b"not-the-secret", json.dumps(PAID).encode()), "signature does not match"),
        (signed_headers(SECRET, b"another body"), "signature does not match"),
        (_tampered(**{SIGNATURE_HEADER: "sha256=00"}), "signature does not match"),
        (_tampered(**{TIMESTAMP_HEADER: str(int(time.time()) + 1)}), "signature does not match"),
        (_tampered(**{NONCE_HEADER: "another-nonce"}), "signature does not match"),
        (_tampered(**{TIMESTAMP_HEADER: "yesterday"}), f"{TIMESTAMP_HEADER}: must be Unix seconds"),
    ],
    ids=["missing", "wrong secret", "other body", "malformed", "other timestamp", "other nonce", "not a time"],
)
async def test_a_notification_without_a_valid_signature_is_refused_and_nothing_sent(endpoint, headers, detail):
    client, outbox = endpoint
    status, problem = await post(client, json.dumps(PAID).encode(), headers)
    assert (status, problem["title"]) == (401, "Bad signature")
    assert detail in problem["detail"]
    assert outbox.records == []


async def test_a_replayed_notification_is_refused_and_writes_nothing(endpoint):
    client, outbox = endpoint
    body = json.dumps(PAID).encode()
    headers = signed_headers(SECRET, body)
    assert (await post(client, body, headers))[0] == 202
    status, problem = await post(client, body, headers)
    assert (status, problem["title"]) == (401, "Replayed notification")
    assert (
        problem["detail"] == f"{NONCE_HEADER}: {headers[NONCE_HEADER]} was already used; a replayed request is refused"
    )
    assert len(outbox.records) == 1
    assert (await notify(client, body))[0] == 202  # the same notification signed afresh is the saga's to judge


@pytest.mark.parametrize("age_s", [301, -301], ids=["old", "future"])
async def test_a_notification_signed_outside_the_window_is_stale_and_writes_nothing(endpoint, age_s):
    client, outbox = endpoint
    body = json.dumps(PAID).encode()
    timestamp = int(time.time()) - age_s
    status, problem = await post(client, body, signed_headers(SECRET, body, timestamp))
    assert (status, problem["title"]) == (401, "Stale notification")
    assert problem["detail"] == f"{TIMESTAMP_HEADER}: {timestamp} is more than 300 s from the receiver's clock"
    assert outbox.records == []


async def test_the_window_is_configurable():
    outbox = Outbox()
    async with TestClient(TestServer(callback_app(SECRET, OUTBOX, outbox.send, window_s=10))) as client:
        body = json.dumps(PAID).encode()
        assert (await post(client, body, signed_headers(SECRET, body, int(time.time()) - 60)))[0] == 401
        assert (await post(client, body, signed_headers(SECRET, body, int(time.time()) - 5)))[0] == 202


async def test_a_notification_not_written_can_be_delivered_again_with_the_same_nonce():
    outbox = Outbox()
    failures = [ConnectionError("broker unavailable")]

    async def send(topic: str, key: bytes, value: bytes) -> None:
        if failures:
            raise failures.pop()
        await outbox.send(topic, key, value)

    async with TestClient(TestServer(callback_app(SECRET, OUTBOX, send))) as client:
        body = json.dumps(PAID).encode()
        headers = signed_headers(SECRET, body) | {"Content-Type": "application/json"}
        refused = await client.post("/callbacks/payment", data=body, headers=headers)
        assert refused.status == 503 and "send it again" in (await refused.json())["detail"]
        assert (await client.post("/callbacks/payment", data=body, headers=headers)).status == 202
        assert len(outbox.records) == 1


def test_the_replay_guard_holds_fresh_nonces_only_and_refuses_rather_than_forget_one_early():
    guard = ReplayGuard(window_s=10, max_entries=2)
    assert guard.check("a", 0, now=0) is None
    assert guard.check("a", 0, now=1) is Check.REPLAYED
    assert guard.check("b", 0, now=1) is None
    assert guard.check("c", 0, now=2) is Check.BUSY  # full: "a" could still be replayed until t=20
    assert guard.check("a", 10, now=19) is Check.REPLAYED
    assert guard.check("a", 15, now=21) is None  # "a" and "b" expired and were dropped
    assert guard.check("d", 15, now=21) is None
    assert guard.check("e", 40, now=21) is Check.STALE


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
    status, problem = await notify(client, raw)
    assert (status, problem["title"]) == (422, "Invalid notification")
    assert problem["detail"].startswith(detail)
    assert outbox.records == []


async def test_a_signed_body_that_is_not_json_is_unprocessable(endpoint):
    client, outbox = endpoint
    status, problem = await notify(client, b"paid!")
    assert (status, problem["detail"]) == (422, "Invalid JSON: expected value at line 1 column 1")
    assert outbox.records == []


def test_the_signature_is_hmac_sha256_of_timestamp_nonce_and_body_as_agencies_are_told():
    """The wire format gateways implement from docs/agencies.md, computed here independently."""
    body = json.dumps(PAID).encode()
    expected = hmac.new(SECRET, b"1764213000.nonce-1." + body, hashlib.sha256).hexdigest()
    assert signed_headers(SECRET, body, 1764213000, "nonce-1") == {
        TIMESTAMP_HEADER: "1764213000",
        NONCE_HEADER: "nonce-1",
        SIGNATURE_HEADER: f"sha256={expected}",
    }
    headers = signed_headers(SECRET, body, 1764213000, "nonce-1")
    assert verify(SECRET, body, headers, ReplayGuard(300), now=1764213000 + 300) is None
    late = verify(SECRET, body, headers | {NONCE_HEADER: "nonce-1"}, ReplayGuard(300), now=1764213000 + 301)
    assert late is not None and late[0] is Check.STALE


async def test_a_gateway_sending_more_notifications_than_the_guard_holds_is_told_to_wait():
    outbox = Outbox()
    async with TestClient(TestServer(callback_app(SECRET, OUTBOX, outbox.send, max_nonces=1))) as client:
        body = json.dumps(PAID).encode()
        assert (await post(client, body, signed_headers(SECRET, body)))[0] == 202
        status, problem = await post(client, body, signed_headers(SECRET, body))
        assert (status, problem["title"]) == (503, "Too many notifications") and "try again later" in problem["detail"]
        assert len(outbox.records) == 1
