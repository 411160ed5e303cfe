"""Payment gateway sandbox (PayGov-style): REST, with an HMAC-signed asynchronous callback.

    POST /v1/payments                    create a payment request      201 (200 on a repeat) | 409
    POST /v1/payments/{id}/pay           play the citizen paying it    200 | 404
    POST /v1/payments/{id}/refunds       refund a paid payment         201 (200 on a repeat) | 409 | 422

A request is identified by its ``reference``; the same reference with another amount is refused.
When a request is paid (after ``auto_pay_after_s``, or on ``/pay``) the gateway POSTs a JSON
notification to the request's ``callback_url``, signed with the shared secret as
``contracts.signing`` describes (timestamp, fresh nonce, HMAC-SHA256 over both and the body). As
real gateways do with their payment notifications (IPN), it sends one again while the callback
cannot be reached (for ``notify_for_s``), and again when the same request comes in after it was
paid: a hub worker that was down when the citizen paid still learns of it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from connectors.http_server import HttpServer, problem
from contracts.signing import signed_headers
from infra.sandbox.effects import EffectLog


class PaymentGateway:
    def __init__(
        self,
        secret: bytes,
        effects_path: Path | None = None,
        auto_pay_after_s: float | None = 0.2,
        notify_for_s: float = 120,
    ) -> None:
        self.secret = secret
        self.auto_pay_after_s = auto_pay_after_s
        self.notify_for_s = notify_for_s
        self.effects = EffectLog("payment", effects_path)
        self.payments: dict[str, dict[str, Any]] = {}  # by transaction id
        self._by_reference: dict[str, str] = {}
        self.notifications_sent = 0
        self._tasks: set[asyncio.Task] = set()
        self._http = httpx.AsyncClient(timeout=5)
        app = web.Application()
        app.add_routes(
            [
                web.post("/v1/payments", self._create),
                web.post("/v1/payments/{txn}/pay", self._pay),
                web.post("/v1/payments/{txn}/refunds", self._refund),
            ]
        )
        self.server = HttpServer(app)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    async def start(self, port: int = 0) -> None:
        await self.server.start(port)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.stop()
        await self._http.aclose()

    def by_reference(self, reference: str) -> dict[str, Any] | None:
        txn = self._by_reference.get(reference)
        return self.payments.get(txn) if txn else None

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        reference, amount = body.get("reference"), body.get("amount_vnd")
        if not reference or not isinstance(amount, int) or amount <= 0 or not body.get("callback_url"):
            return problem(422, "Invalid request", "reference, a positive amount_vnd and callback_url are required")
        if (txn := self._by_reference.get(reference)) is not None:
            existing = self.payments[txn]
            if existing["amount_vnd"] != amount:
                return problem(
                    409,
                    "Reference reused",
                    f"reference {reference} was created for {existing['amount_vnd']} VND, not {amount}",
                )
            if existing["status"] == "paid":  # asked again after the citizen paid: tell the hub again
                self._spawn(self.notify(txn))
            return web.json_response({"transaction_id": txn, "status": existing["status"]}, status=200)
        txn = f"PG{len(self.payments) + 1:08d}"
        self.payments[txn] = {
            "transaction_id": txn,
            "reference": reference,
            "amount_vnd": amount,
            "description": body.get("description", ""),
            "callback_url": body["callback_url"],
            "status": "pending",
            "paid_at": None,
        }
        self._by_reference[reference] = txn
        if self.auto_pay_after_s is not None:
            self._spawn(self._pay_later(txn))
        return web.json_response({"transaction_id": txn, "status": "pending"}, status=201)

    async def _pay(self, request: web.Request) -> web.Response:
        txn = request.match_info["txn"]
        if txn not in self.payments:
            return problem(404, "Unknown payment", f"transaction {txn} does not exist")
        await self.pay(txn)
        return web.json_response(self.payments[txn])

    async def _refund(self, request: web.Request) -> web.Response:
        txn = request.match_info["txn"]
        key = request.headers.get("Idempotency-Key", "")
        if (answer := self.effects.repeat(f"refund:{key}")) is not None:
            return web.json_response(answer, status=200)
        payment = self.payments.get(txn)
        body = await request.json()
        if payment is None or payment["status"] != "paid":
            return problem(409, "Not refundable", f"transaction {txn} has not been paid")
        if body.get("amount_vnd") != payment["amount_vnd"]:
            return problem(422, "Wrong amount", f"amount_vnd: refund must be the {payment['amount_vnd']} VND paid")
        payment["status"] = "refunded"
        answer = {"refund_id": f"RF-{txn}", "refunded_at": datetime.now(UTC).isoformat()}
        self.effects.record(f"refund:{key}", "refunded", answer, transaction_id=txn, amount_vnd=payment["amount_vnd"])
        return web.json_response(answer, status=201)

    async def _pay_later(self, txn: str) -> None:
        await asyncio.sleep(self.auto_pay_after_s or 0)
        await self.pay(txn)

    async def pay(self, txn: str) -> None:
        """The citizen pays: record it once and notify the hub."""
        payment = self.payments[txn]
        if payment["status"] == "pending":
            payment.update(status="paid", paid_at=datetime.now(UTC).isoformat())
            self.effects.record(
                f"paid:{payment['reference']}", "paid", {"transaction_id": txn, "amount_vnd": payment["amount_vnd"]}
            )
        await self.notify(txn)

    def notification(self, txn: str, **overrides: Any) -> bytes:
        payment = self.payments[txn]
        body = {
            "reference": payment["reference"],
            "transaction_id": txn,
            "amount_vnd": payment["amount_vnd"],
            "status": "paid",
            "paid_at": payment["paid_at"],
        } | overrides
        return json.dumps(body).encode()

    async def notify(self, txn: str, body: bytes | None = None, secret: bytes | None = None) -> int:
        """POST the notification to the request's callback URL, signed afresh (a new nonce) for
        each attempt, as :meth:`post` retries; returns the HTTP status. ``body`` and ``secret`` let
        tests send forged or altered notifications."""
        return await self._deliver(txn, lambda: self.signed(txn, body, secret))

    def signed(
        self, txn: str, body: bytes | None = None, secret: bytes | None = None, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The notification's body and headers, signed now (or at ``timestamp``) with a fresh nonce."""
        body = body if body is not None else self.notification(txn)
        return body, signed_headers(secret if secret is not None else self.secret, body, timestamp)

    async def post(self, txn: str, body: bytes, headers: dict[str, str]) -> int:
        """POST exactly these bytes and headers (a test replays a captured notification with it),
        retried as :meth:`notify` is."""
        return await self._deliver(txn, lambda: (body, headers))

    async def _deliver(self, txn: str, request: Callable[[], tuple[bytes, dict[str, str]]]) -> int:
        """POST ``request()`` again while the callback cannot be reached or answers 5xx (it could
        not record it), for up to ``notify_for_s``; the last status, or 0 if it never answered. A
        timed-out attempt may have been recorded: the next one, freshly signed, is then a repeat
        the hub ignores, where the same nonce again would be refused as a replay."""
        deadline = asyncio.get_running_loop().time() + self.notify_for_s
        delay = 0.2
        while True:
            body, headers = request()
            try:
                response = await self._http.post(
                    self.payments[txn]["callback_url"],
                    content=body,
                    headers=headers | {"Content-Type": "application/json"},
                )
                self.notifications_sent += 1
                status = response.status_code
            except httpx.TransportError:
                status = 0
            if 0 < status < 500 or asyncio.get_running_loop().time() + delay > deadline:
                return status
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
