"""Bridges: for each agency reached over SOAP or REST, read its inbox, call it, write its outbox.

The connector (``connectors/``) does the calling; this module only moves messages. Each bridge
runs ``LIENTHONG_BRIDGE_CONCURRENCY`` calls at a time, so one slow agency call does not hold up
the partition behind it.
"""

from __future__ import annotations

from collections.abc import Callable

import mode
import structlog
from faust.types import EventT
from pydantic import ValidationError

from connectors.base import Connector, perform
from connectors.rest import PaymentConnector, PopulationConnector
from connectors.soap import InsuranceConnector
from contracts import topics
from contracts.envelope import Envelope, describe_error
from contracts.events import STEP_COMMAND, STEP_REPLY, StepCommand
from streams.app import app, raw_topic, settings
from streams.deadletter import dead_letter, guarded_agent

log = structlog.get_logger("lienthong.bridge")

CONNECTORS: dict[str, Callable[[], Connector]] = {
    "population": lambda: PopulationConnector(settings.population_url, settings.agency_timeout_s),
    "insurance": lambda: InsuranceConnector(settings.insurance_address, settings.agency_timeout_s),
    "payment": lambda: PaymentConnector(settings.payment_url, settings.agency_timeout_s, settings.callback_url),
}
_open: dict[str, Connector] = {}


def connector(agency: str) -> Connector:
    """The agency's connector, opened on first use inside the worker's event loop."""
    if agency not in _open:
        _open[agency] = CONNECTORS[agency]()
    return _open[agency]


async def bridge_one(agency: str, event: EventT) -> None:
    try:
        envelope = Envelope.from_bytes(event.value)
        if envelope.type != STEP_COMMAND:
            await dead_letter(event, f"bridge.{agency}", f"{agency} accepts only step commands, got {envelope.type!r}")
            return
        command = envelope.payload(StepCommand)
    except ValidationError as exc:
        await dead_letter(event, f"bridge.{agency}", f"invalid command: {describe_error(exc)}")
        return
    if not envelope.idempotencykey:
        await dead_letter(event, f"bridge.{agency}", "command has no idempotencykey")
        return
    reply = await perform(connector(agency), command, envelope.idempotencykey,
                          attempts=settings.agency_attempts, backoff_s=settings.agency_backoff_s)
    if reply is None:
        log.info("agency accepted, answer will come by callback", agency=agency, action=command.action,
                 step=command.step, dossier_id=envelope.subject, correlation_id=envelope.correlationid)
        return
    out = envelope.caused(source=f"/connector/{agency}", type=STEP_REPLY, data=reply)
    await raw_topic(topics.outbox(agency)).send(key=event.message.key, value=out.to_bytes())
    log.info("agency called", agency=agency, action=command.action, step=command.step,
             outcome=reply.outcome.value, dossier_id=envelope.subject, correlation_id=envelope.correlationid)


@app.service
class ConnectorCloser(mode.Service):
    """Closes the connectors' HTTP clients when the worker stops."""

    async def on_stop(self) -> None:
        for opened in _open.values():
            await opened.aclose()


for _agency in CONNECTORS:
    guarded_agent(topics.inbox(_agency), f"bridge-{_agency}", f"bridge.{_agency}",
                  lambda event, agency=_agency: bridge_one(agency, event), concurrency=settings.bridge_concurrency)
