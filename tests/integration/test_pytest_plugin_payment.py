"""lienthong's pytest plugin for the payment gateway's team: the hub's bridge creates payment
requests on the team's gateway (``lienthong_agency_endpoint``), and the gateway answers later on the
hub's callback URL, signed with the module's ``lienthong_payment_secret``.

The team's gateway here is a few lines of aiohttp written from docs/agencies.md (the request it
receives, the notification it sends and how it signs it); in the team's tests it is their system.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from aiohttp import web

from connectors.http_server import HttpServer
from contracts.status import DossierStatus as S
from infra.pytest_plugin import BridgedAgencyUnderTest, Hub
from infra.sandbox.samples import criminal_record_filing, dossier_code


class TeamGateway:
    """Creates a payment per reference (the same one again for a repeated reference), and when the
    citizen pays, POSTs the signed notification to the request's callback URL."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.payments: dict[str, dict] = {}  # by reference
        self.callbacks: list[int] = []  # the hub's HTTP status for each notification
        self.undelivered: list[str] = []  # why a notification did not reach the hub
        app = web.Application()
        app.add_routes([web.post("/v1/payments", self._create)])
        self.server = HttpServer(app)
        self._tasks: set[asyncio.Task] = set()

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        reference = body["reference"]  # the hub's idempotency key: a repeat is the same payment
        if reference in self.payments:
            return web.json_response({"transaction_id": self.payments[reference]["transaction_id"]}, status=200)
        payment = {"transaction_id": f"TEAM{len(self.payments) + 1:06d}", **body}
        self.payments[reference] = payment
        task = asyncio.create_task(self._citizen_pays(payment))  # the citizen pays a moment later
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response({"transaction_id": payment["transaction_id"], "status": "pending"}, status=201)

    async def _citizen_pays(self, payment: dict) -> None:
        await asyncio.sleep(0.2)
        notification = {
            "reference": payment["reference"],
            "transaction_id": payment["transaction_id"],
            "amount_vnd": payment["amount_vnd"],
            "status": "paid",
            "paid_at": datetime.now(UTC).isoformat(),
        }
        body = json.dumps(notification).encode()
        timestamp, nonce = str(int(time.time())), secrets.token_urlsafe(16)
        digest = hmac.new(self.secret, f"{timestamp}.{nonce}.".encode() + body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Lienthong-Timestamp": timestamp,
            "X-Lienthong-Nonce": nonce,
            "X-Lienthong-Signature": f"sha256={digest}",
        }
        async with httpx.AsyncClient() as http:
            for attempt in range(5):  # a notification that cannot be delivered is sent again
                try:
                    response = await http.post(payment["callback_url"], content=body, headers=headers)
                except httpx.TransportError as exc:
                    self.undelivered.append(repr(exc))
                    await asyncio.sleep(0.2 * 2**attempt)
                    continue
                self.callbacks.append(response.status_code)
                return


@pytest.fixture(scope="module")
def lienthong_agency() -> str:
    return "payment"


@pytest.fixture(scope="module")
async def gateway(lienthong_payment_secret: str) -> AsyncIterator[TeamGateway]:
    team = TeamGateway(lienthong_payment_secret)
    await team.server.start()
    try:
        yield team
    finally:
        await team.server.stop()


@pytest.fixture(scope="module")
def lienthong_agency_endpoint(gateway: TeamGateway) -> str:
    return gateway.server.base_url


async def test_the_fee_is_paid_on_the_teams_gateway_and_the_certificate_issued(lienthong_hub: Hub, gateway):
    hub = lienthong_hub
    assert isinstance(hub.agency, BridgedAgencyUnderTest) and hub.agency.callback_url is not None
    dossier = dossier_code(hub.seq())
    await hub.file(
        "criminal_record", dossier, criminal_record_filing(hub.sandbox.population, random.Random(5), vneid_level=2)
    )

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED, gateway.undelivered
    (payment,) = [p for reference, p in gateway.payments.items() if reference.startswith(dossier)]
    assert payment["amount_vnd"] == 200_000 and payment["callback_url"] == hub.agency.callback_url
    assert gateway.callbacks == [202]  # accepted: on the broker, the saga takes it from there
    assert hub.sandbox.payment.payments == {}  # the sandbox's gateway never ran
