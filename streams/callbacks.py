"""The hub's HTTP endpoint for asynchronous agency callbacks (the payment gateway's notifications).

``POST /callbacks/payment`` checks the HMAC-SHA256 signature (``X-Lienthong-Signature:
sha256=<hex>``, secret ``LIENTHONG_PAYMENT_SECRET``) and the notification's shape, then writes a
``vn.lienthong.payment.notified`` envelope to ``agency.payment.outbox`` keyed by the dossier code.
The saga decides the rest (unknown reference, wrong amount, repeats), in order with the dossier's
other events. Answers: 202 accepted, 401 bad signature, 422 malformed.
"""

from __future__ import annotations

import hashlib
import hmac
from uuid import uuid4

import mode
import structlog
from aiohttp import web
from pydantic import ValidationError

from contracts import topics
from contracts.envelope import Envelope, describe_error
from contracts.events import PAYMENT_NOTIFIED, PaymentNotification
from contracts.identifiers import IdentifierError, check_dossier_code
from streams.app import app, raw_topic, settings

log = structlog.get_logger("lienthong.callbacks")
SIGNATURE_HEADER = "X-Lienthong-Signature"


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response({"status": status, "detail": detail}, status=status,
                             content_type="application/problem+json")


def signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


async def payment_callback(request: web.Request) -> web.Response:
    body = await request.read()
    if not signature_valid(settings.payment_secret, body, request.headers.get(SIGNATURE_HEADER)):
        log.warning("payment notification with a bad signature refused", remote=request.remote)
        return _problem(401, f"{SIGNATURE_HEADER}: signature does not match the body")
    try:
        notification = PaymentNotification.model_validate_json(body)
        check_dossier_code(notification.dossier_id)
    except ValidationError as exc:
        return _problem(422, describe_error(exc))
    except IdentifierError:
        return _problem(422, f"reference: unknown payment reference {notification.reference!r}")
    envelope = Envelope(source="/connector/payment", type=PAYMENT_NOTIFIED, subject=notification.dossier_id,
                        correlationid=str(uuid4()), idempotencykey=f"paid:{notification.reference}",
                        data=notification.model_dump(mode="json"))
    await raw_topic(topics.outbox("payment")).send(key=notification.dossier_id.encode(), value=envelope.to_bytes())
    return web.json_response({"status": "accepted"}, status=202)


@app.service
class CallbackServer(mode.Service):
    """Serves the callback endpoint on 127.0.0.1:``LIENTHONG_CALLBACK_PORT`` while the worker runs."""

    runner: web.AppRunner | None = None

    async def on_start(self) -> None:
        web_app = web.Application()
        web_app.add_routes([web.post("/callbacks/payment", payment_callback)])
        self.runner = web.AppRunner(web_app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", settings.callback_port).start()
        log.info("callback endpoint listening", url=settings.callback_url)

    async def on_stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
