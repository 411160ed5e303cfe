"""Ingest: agency outboxes → canonical events on ``hub.dossier.events``, keyed by dossier code.

An outbox carries four kinds of message:

* replies to the hub's commands, as contract envelopes (``vn.lienthong.step.reply``); ingest
  checks the reply names the agency whose outbox it arrived on and forwards it unchanged;
* filings already in the contract (``vn.lienthong.dossier.filed``, from filing agencies such as
  the portal), checked against the procedure they name and forwarded unchanged;
* citizens' requests about a dossier (withdraw it, supply requested documents), from filers;
* filings in the agency's own format (justice's birth filings); ingest validates and normalises
  them into a ``vn.lienthong.dossier.filed`` envelope with a new correlation id.

Anything else, or anything invalid, goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import structlog
from faust.types import EventT
from pydantic import BaseModel, ValidationError

from contracts import topics
from contracts.envelope import Envelope, describe_error
from contracts.events import (
    DOSSIER_FILED,
    DOSSIER_SUPPLEMENTED,
    DOSSIER_WITHDRAWN,
    PAYMENT_NOTIFIED,
    STEP_REPLY,
    DossierFiled,
    DossierSupplemented,
    DossierWithdrawn,
    PaymentNotification,
    StepReply,
)
from contracts.filings import FILING_MODELS
from streams import normalize
from streams.app import catalog, dossier_events
from streams.deadletter import dead_letter, guarded_agent

log = structlog.get_logger("lienthong.ingest")

# Agencies that file dossiers in their own format, and the translator for each.
NATIVE_FILINGS: dict[str, Callable[[dict[str, Any]], DossierFiled]] = {
    "justice": normalize.justice_birth,
}
# Agencies whose outbox the hub reads (Kafka-native ones, and the bridged ones via connectors).
SOURCES = ("justice", "population", "insurance", "tax", "payment", "portal", "onestop")


# Agencies that may file dossiers, and pass on citizens' requests about them, as envelopes.
FILERS = ("portal", "justice", "onestop")
# Other envelopes forwarded as they are, by type: who may send them and what their data must be.
FORWARDED: dict[str, tuple[tuple[str, ...], type[BaseModel]]] = {
    DOSSIER_WITHDRAWN: (FILERS, DossierWithdrawn),
    DOSSIER_SUPPLEMENTED: (FILERS, DossierSupplemented),
    PAYMENT_NOTIFIED: (("payment",), PaymentNotification),
}


class Rejected(Exception):
    """The message cannot enter the hub; the message is the reason."""


def to_canonical(agency: str, raw: bytes) -> Envelope:
    """Decode one outbox message into the canonical envelope to forward, or raise Rejected."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise Rejected(f"expected a JSON object, got {type(doc).__name__}")
    if "specversion" in doc:
        return _envelope(agency, doc)
    translate = NATIVE_FILINGS.get(agency)
    if translate is None:
        raise Rejected(f"not an envelope, and {agency} has no native filing format")
    try:
        filed = translate(doc)
    except normalize.FilingRejected as exc:
        raise Rejected(f"invalid filing: {exc}") from None
    return Envelope(source=f"/agency/{agency}", type=DOSSIER_FILED, subject=filed.dossier_id,
                    correlationid=str(uuid4()), idempotencykey=f"filing/{filed.dossier_id}",
                    data=filed.model_dump(mode="json"))


def _envelope(agency: str, doc: dict[str, Any]) -> Envelope:
    try:
        envelope = Envelope.model_validate(doc)
    except ValidationError as exc:
        raise Rejected(f"invalid envelope: {describe_error(exc)}") from None
    if envelope.type == DOSSIER_FILED and agency in FILERS:
        return _filing(agency, envelope)
    senders, model = FORWARDED.get(envelope.type, ((), None))
    if agency in senders:
        try:
            envelope.payload(model)
        except ValidationError as exc:
            raise Rejected(f"invalid {envelope.type}: {describe_error(exc)}") from None
        return envelope
    if envelope.type != STEP_REPLY:
        raise Rejected(f"unexpected event type {envelope.type!r} on {agency}'s outbox")
    try:
        reply = envelope.payload(StepReply)
    except ValidationError as exc:
        raise Rejected(f"invalid step reply: {describe_error(exc)}") from None
    if reply.agency != agency:
        raise Rejected(f"reply claims to come from {reply.agency!r} but arrived on {agency}'s outbox")
    return envelope


def _filing(agency: str, envelope: Envelope) -> Envelope:
    try:
        filed = envelope.payload(DossierFiled)
    except ValidationError as exc:
        raise Rejected(f"invalid filing: {describe_error(exc)}") from None
    if filed.filed_by != agency:
        raise Rejected(f"filing claims to come from {filed.filed_by!r} but arrived on {agency}'s outbox")
    if filed.dossier_id != envelope.subject:
        raise Rejected(f"subject {envelope.subject!r} is not the dossier code {filed.dossier_id!r}")
    procedure = catalog().get(filed.procedure)
    if procedure is None:
        raise Rejected(f"invalid filing: procedure: unknown procedure {filed.procedure!r} "
                       f"(known: {', '.join(sorted(catalog()))})")
    try:
        FILING_MODELS[procedure.filing].model_validate(filed.filing)
    except ValidationError as exc:
        raise Rejected(f"invalid filing: {describe_error(exc)}") from None
    return envelope


async def ingest_one(agency: str, event: EventT) -> None:
    try:
        envelope = to_canonical(agency, event.value)
    except Rejected as exc:
        await dead_letter(event, f"ingest.{agency}", str(exc))
        return
    await dossier_events().send(key=envelope.subject.encode(), value=envelope.to_bytes())
    if envelope.type == DOSSIER_FILED:
        log.info("dossier filed", agency=agency, dossier_id=envelope.subject,
                 correlation_id=envelope.correlationid)


for _agency in SOURCES:
    guarded_agent(topics.outbox(_agency), f"ingest-{_agency}", f"ingest.{_agency}",
                  lambda event, agency=_agency: ingest_one(agency, event))
