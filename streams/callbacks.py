"""The hub's HTTP endpoint for asynchronous agency callbacks (the payment gateway's notifications).

``POST /callbacks/payment`` checks the HMAC-SHA256 signature (``X-Lienthong-Signature:
sha256=<hex>``, secret ``LIENTHONG_PAYMENT_SECRET``) and the notification's shape, then writes a
``vn.lienthong.payment.notified`` envelope to ``agency.payment.outbox`` keyed by the dossier code.
The saga decides the rest (unknown reference, wrong amount, repeats), in order with the dossier's
other events. Answers: 202 accepted, 401 bad signature, 422 malformed.
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
from contracts.signing import SIGNATURE_HEADER, signature_valid
from contracts.topics import Send

if TYPE_CHECKING:
    from streams.app import Hub

log = structlog.get_logger("lienthong.callbacks")


def callback_app(secret: bytes, outbox: str, send: Send) -> web.Application:
    """The callback endpoints; accepted notifications are written with ``send`` to ``outbox``."""

    async def payment_callback(request: web.Request) -> web.Response:
        body = await request.read()
        if not signature_valid(secret, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("payment notification with a bad signature refused", remote=request.remote)
            return problem(401, "Bad signature", f"{SIGNATURE_HEADER}: signature does not match the body")
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
        await send(outbox, notification.dossier_id.encode(), envelope.to_bytes())
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
            callback_app(settings.payment_secret.get_secret_value().encode(), hub.topics.outbox("payment"), hub.send)
        )

    async def on_start(self) -> None:
        await self._server.start(self._port)
        log.info("callback endpoint listening", url=self._url)

    async def on_stop(self) -> None:
        await self._server.stop()


def register(hub: Hub) -> None:
    hub.app.service(_CallbackServer(hub))  # type: ignore[arg-type]  # an instance, as in bridges
