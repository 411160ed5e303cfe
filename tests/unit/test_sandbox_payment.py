"""The sandbox payment gateway keeps its notifications coming, as real gateways do: while the hub's
callback cannot be reached, and when a request it has already seen paid comes in again."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from aiohttp import web

from connectors.http_server import HttpServer
from contracts.signing import NONCE_HEADER
from infra.harness.net import free_port
from infra.sandbox.payment import PaymentGateway


class Callback:
    """The hub's callback endpoint, started when the test says; it answers 503 ("not recorded")
    ``unrecorded`` times first."""

    def __init__(self, port: int, unrecorded: int = 0) -> None:
        self.port, self.received, self.unrecorded = port, 0, unrecorded
        self.nonces: list[str] = []
        app = web.Application()
        app.add_routes([web.post("/callbacks/payment", self._receive)])
        self.server = HttpServer(app)

    async def _receive(self, request: web.Request) -> web.Response:
        self.nonces.append(request.headers[NONCE_HEADER])
        if len(self.nonces) <= self.unrecorded:
            return web.json_response({"title": "Not recorded"}, status=503)
        self.received += 1
        return web.json_response({"status": "accepted"}, status=202)


def payment_request(callback: Callback) -> dict:
    """The hub's request for a fee, to be notified at ``callback``."""
    return {
        "reference": "D/collect_fee",
        "amount_vnd": 200_000,
        "description": "fee",
        "callback_url": f"http://127.0.0.1:{callback.port}/callbacks/payment",
    }


async def received(callback: Callback, count: int) -> bool:
    """Whether ``callback`` has exactly ``count`` notifications recorded within 10 s."""
    for _ in range(100):
        if callback.received >= count:
            break
        await asyncio.sleep(0.1)
    return callback.received == count


@pytest.fixture
async def gateway():
    """The sandbox gateway; the citizen pays at once."""
    gateway = PaymentGateway(b"secret", auto_pay_after_s=0, notify_for_s=30)
    await gateway.start()
    yield gateway
    await gateway.stop()


async def request_payment(gateway: PaymentGateway, callback: Callback) -> int:
    """The hub asks for the fee, as its payment bridge does; the gateway's status code."""
    async with httpx.AsyncClient(base_url=gateway.base_url) as http:
        return (await http.post("/v1/payments", json=payment_request(callback))).status_code


async def test_a_notification_waits_for_a_callback_that_is_down_and_a_repeat_request_brings_another(gateway):
    callback = Callback(free_port())
    try:
        assert await request_payment(gateway, callback) == 201
        await asyncio.sleep(1)  # the citizen has paid; the hub's worker is down
        assert callback.received == 0
        await callback.server.start(callback.port)  # the worker is back
        assert await received(callback, 1)
        assert await request_payment(gateway, callback) == 200  # sent again by the hub
        assert await received(callback, 2)
    finally:
        await callback.server.stop()


async def test_a_notification_the_hub_could_not_record_is_sent_again_signed_afresh(gateway):
    callback = Callback(free_port(), unrecorded=2)
    await callback.server.start(callback.port)
    try:
        assert await request_payment(gateway, callback) == 201
        assert await received(callback, 1) and len(callback.nonces) == 3
        assert len(set(callback.nonces)) == 3  # a nonce used again would be refused as a replay
    finally:
        await callback.server.stop()
