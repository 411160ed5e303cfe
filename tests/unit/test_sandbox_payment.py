"""The sandbox payment gateway keeps its notifications coming, as real gateways do: while the hub's
callback cannot be reached, and when a request it has already seen paid comes in again."""

from __future__ import annotations

import asyncio

import httpx
from aiohttp import web

from connectors.http_server import HttpServer
from infra.harness.net import free_port
from infra.sandbox.payment import PaymentGateway


class Callback:
    """The hub's callback endpoint, started when the test says."""

    def __init__(self, port: int) -> None:
        self.port, self.received = port, 0
        app = web.Application()
        app.add_routes([web.post("/callbacks/payment", self._receive)])
        self.server = HttpServer(app)

    async def _receive(self, _: web.Request) -> web.Response:
        self.received += 1
        return web.json_response({"status": "accepted"}, status=202)


async def test_a_notification_waits_for_a_callback_that_is_down_and_a_repeat_request_brings_another():
    callback = Callback(free_port())
    gateway = PaymentGateway(b"secret", auto_pay_after_s=0, notify_for_s=30)
    await gateway.start()
    try:
        request = {"reference": "D/collect_fee", "amount_vnd": 200_000, "description": "fee"}
        request["callback_url"] = f"http://127.0.0.1:{callback.port}/callbacks/payment"
        async with httpx.AsyncClient(base_url=gateway.base_url) as http:
            assert (await http.post("/v1/payments", json=request)).status_code == 201
            await asyncio.sleep(1)  # the citizen has paid; the hub's worker is down
            assert callback.received == 0
            await callback.server.start(callback.port)  # the worker is back
            for _ in range(100):
                if callback.received:
                    break
                await asyncio.sleep(0.1)
            assert callback.received == 1
            assert (await http.post("/v1/payments", json=request)).status_code == 200  # sent again by the hub
            for _ in range(50):
                if callback.received == 2:
                    break
                await asyncio.sleep(0.1)
            assert callback.received == 2
    finally:
        await gateway.stop()
        await callback.server.stop()
