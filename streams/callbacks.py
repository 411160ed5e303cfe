"""The hub's HTTP endpoint for asynchronous agency callbacks (the payment gateway's notifications).

``POST /callbacks/payment`` checks the HMAC-SHA256 signature over timestamp, nonce and body
(``contracts.signing``; secret ``LIENTHONG_PAYMENT_SECRET``), refuses a stale timestamp or a nonce
already used (``LIENTHONG_CALLBACK_WINDOW_S``), checks the notification's shape, then writes a
``vn.lienthong.payment.notified`` envelope to ``agency.payment.outbox`` keyed by the dossier code,
and answers 202 only once the broker acknowledged it (503 if it could not be written: the gateway
sends it again; a notification accepted and then lost to a crash would never come again).
The saga decides the rest (unknown reference, wrong amount, repeats), in order with the dossier's
other events. Answers: 202 accepted, 401 bad signature / stale / replayed, 422 malformed, 503
when more nonces are fresh than the guard holds or the notification could not be recorded. A
replay guard lives in one worker's memory: run one callback endpoint per secret, or a replay may
reach another worker (the saga still applies a payment once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import uuid4

import mode
import structlog
from aiohttp import web
from pydantic import ValidationError

from connectors.http_server import HttpServer, problem
from contracts.envelope import Envelope, describe_error
from contracts.errors import IdentifierError
from contracts.events import PAYMENT_NOTIFIED, PaymentNotification
from contracts.identifiers import check_dossier_code
from contracts.signing import NONCE_HEADER, Check, ReplayGuard, verify
from contracts.topics import Send

if TYPE_CHECKING:
    from streams.app import Hub

log = structlog.get_logger("lienthong.callbacks")


_TITLES = {
    Check.SIGNATURE: "Bad signature",
    Check.STALE: "Stale notification",
    Check.REPLAYED: "Replayed notification",
    Check.BUSY: "Too many notifications",
}


class _NotRecorded(Exception):
    """The notification could not be written to the broker."""


def callback_app(
    secret: bytes, outbox: str, send: Send, window_s: float = 300, max_nonces: int = 100_000
) -> web.Application:
    """The callback endpoints; accepted notifications are written with ``send`` to ``outbox``.
    A notification signed more than ``window_s`` from now, or with a nonce already accepted, is
    refused; while ``max_nonces`` fresh nonces are held, new ones wait (503)."""
    guard = ReplayGuard(window_s, max_nonces)

    async def payment_callback(request: web.Request) -> web.Response:
        body = await request.read()
        if (refused := verify(secret, body, request.headers, guard)) is not None:
            check, detail = refused
            log.warning("payment notification refused", check=str(check), remote=request.remote)
            return problem(503 if check is Check.BUSY else 401, _TITLES[check], detail)
        try:
            return await accept(body)
        except _NotRecorded:
            guard.forget(request.headers[NONCE_HEADER])
            return problem(503, "Not recorded", "the notification could not be recorded: send it again")
        except BaseException:
            guard.forget(request.headers[NONCE_HEADER])  # not carried out: the gateway may send it again
            raise

    async def accept(body: bytes) -> web.Response:
        try:
            notification = PaymentNotification.model_validate_json(body)
        except ValidationError as exc:
            return problem(422, "Invalid notification", describe_error(exc))
        try:
            check_dossier_code(notification.dossier_id)
        except IdentifierError:
            return problem(
                422, "Invalid notification", f"reference: unknown payment reference {notification.reference!r}"
            )
        envelope = Envelope(
            source="/connector/payment",
            type=PAYMENT_NOTIFIED,
            subject=notification.dossier_id,
            correlationid=str(uuid4()),
            idempotencykey=f"paid:{notification.reference}",
            data=notification.model_dump(mode="json"),
        )
        try:
            await send(outbox, notification.dossier_id.encode(), envelope.to_bytes())
        except Exception as exc:  # not on the broker: the gateway must send it again
            log.error("payment notification not recorded", error=repr(exc))
            raise _NotRecorded from exc
        return web.json_response({"status": "accepted"}, status=202)

    app = web.Application()
    app.add_routes([web.post("/callbacks/payment", payment_callback)])
    return app


class _CallbackServer(mode.Service):
    """Serves the callback endpoint on 127.0.0.1 while the worker runs."""

    def __init__(self, hub: Hub, **kwargs) -> None:
        super().__init__(**kwargs)
        settings = hub.settings
        self._url = settings.payment_callback_url
        self._port = settings.callback_port
        self._server = HttpServer(
            callback_app(
                settings.payment_secret.get_secret_value().encode(),
                hub.topics.outbox("payment"),
                hub.send_acked,
                settings.callback_window_s,
            )
        )

    async def on_start(self) -> None:
        await self._server.start(self._port)
        log.info("callback endpoint listening", url=self._url)

    async def on_stop(self) -> None:
        await self._server.stop()


def register(hub: Hub) -> None:
    hub.app.service(_CallbackServer(hub))  # type: ignore[arg-type]  # an instance, as in bridges
