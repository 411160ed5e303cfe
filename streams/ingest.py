"""Ingest: an agency outbox's record → the canonical event the saga applies, or a dead letter.

The orchestrate agent (:mod:`streams.orchestrate`) reads every outbox and admits each record here
before applying it; a record it cannot apply where it is goes on to ``hub.dossier.events``.

Every message must be signed by one of the sender's keys (:mod:`contracts.record_signing`;
the registry says whose keys sign which outbox) within the signature window, or it is
dead-lettered with reason code ``signature`` or ``stale``. An outbox carries four kinds of message:

* replies to the hub's commands, as contract envelopes (``vn.lienthong.step.reply``); ingest
  checks the reply names the agency whose outbox it arrived on and forwards it unchanged;
* filings already in the contract (``vn.lienthong.dossier.filed``, from filing agencies such as
  the portal), validated against the procedure they name and forwarded with the filing normalised;
* citizens' requests about a dossier (withdraw it, supply requested documents), from filers;
* filings in the agency's own format (justice's birth filings); ingest validates and normalises
  them into a ``vn.lienthong.dossier.filed`` envelope with a new correlation id.

Every event forwarded carries ``source = /agency/<code>`` of the outbox it arrived on, whatever
the sender wrote there: the saga admits replies and requests by it (see :mod:`streams.router`).
Anything else, or anything invalid, goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from faust.types import EventT
from pydantic import BaseModel, ValidationError

from contracts import strict_json
from contracts.agencies import AGENCIES, REGISTRY
from contracts.catalog import Procedure, canonical_filing, procedure_for
from contracts.envelope import Envelope, describe_error, filing_envelope
from contracts.errors import FilingRejected, Rejected
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
from streams import normalize

if TYPE_CHECKING:
    from streams.app import Hub

log = structlog.get_logger("lienthong.ingest")

# Agencies that also file dossiers in their own format, and the translator for each.
NATIVE_FILINGS: dict[str, Callable[[dict[str, Any]], DossierFiled]] = {
    "justice": normalize.justice_birth,
}
# Envelopes forwarded as they are, by type: what their data must be. Who may send each type is
# the agency registry's ``may_send``; every agency may reply to the hub's commands.
FORWARDED: dict[str, type[BaseModel]] = {
    DOSSIER_WITHDRAWN: DossierWithdrawn,
    DOSSIER_SUPPLEMENTED: DossierSupplemented,
    PAYMENT_NOTIFIED: PaymentNotification,
}


def to_canonical(agency: str, raw: bytes, catalog: Mapping[str, Procedure]) -> Envelope:
    """Decode one outbox message into the canonical envelope to forward, or raise Rejected."""
    try:
        doc = strict_json.loads(raw)
    except ValueError as exc:
        raise Rejected(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise Rejected(f"expected a JSON object, got {type(doc).__name__}")
    if "specversion" in doc:
        return _envelope(agency, doc, catalog).model_copy(update={"source": f"/agency/{agency}"})
    translate = NATIVE_FILINGS.get(agency)
    if translate is None:
        raise Rejected(f"not an envelope, and {agency} has no native filing format")
    try:
        filed = translate(doc)
    except FilingRejected as exc:
        raise Rejected(f"invalid filing: {exc}") from None
    _check_may_file(agency, filed.procedure)
    return filing_envelope(filed, f"/agency/{agency}", seed=hashlib.sha256(raw).hexdigest())


def _check_may_file(agency: str, procedure: str) -> None:
    if not AGENCIES[agency].may("file", procedure):
        raise Rejected(f"{agency} may not file {procedure!r} dossiers")


def _envelope(agency: str, doc: dict[str, Any], catalog: Mapping[str, Procedure]) -> Envelope:
    try:
        envelope = Envelope.model_validate(doc)
    except ValidationError as exc:
        raise Rejected(f"invalid envelope: {describe_error(exc)}") from None
    may_send = AGENCIES[agency].may_send
    if envelope.type == DOSSIER_FILED and envelope.type in may_send:
        return _filing(agency, envelope, catalog)
    if envelope.type in FORWARDED and envelope.type in may_send:
        try:
            envelope.payload(FORWARDED[envelope.type])
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


def _filing(agency: str, envelope: Envelope, catalog: Mapping[str, Procedure]) -> Envelope:
    try:
        filed = envelope.payload(DossierFiled)
    except ValidationError as exc:
        raise Rejected(f"invalid filing: {describe_error(exc)}") from None
    if filed.filed_by != agency:
        raise Rejected(f"filing claims to come from {filed.filed_by!r} but arrived on {agency}'s outbox")
    if filed.dossier_id != envelope.subject:
        raise Rejected(f"subject {envelope.subject!r} is not the dossier code {filed.dossier_id!r}")
    _check_may_file(agency, filed.procedure)
    try:
        canonical = canonical_filing(procedure_for(catalog, filed.procedure), filed.filing)
    except FilingRejected as exc:
        raise Rejected(f"invalid filing: {exc}") from None
    # Forward the normalised filing (current units, ISO dates, NFC text): the saga trusts it.
    normalised = filed.model_copy(update={"filing": canonical.model_dump(mode="json")})
    return envelope.model_copy(update={"data": normalised.model_dump(mode="json")})


def admit(hub: Hub, agency: str, event: EventT) -> Envelope:
    """The canonical event a record on ``agency``'s outbox stands for; raises Rejected (the record is
    dead-lettered) if it is too big, not signed by one of the agency's keys recently, or invalid."""
    value, limit = event.value or b"", hub.settings.max_record_bytes
    if len(value) > limit:  # what the hub forwards must fit what the broker takes
        raise Rejected(f"record of {len(value)} bytes is over the {limit}-byte limit")
    window = timedelta(seconds=hub.settings.signature_window_s)
    hub.trust.verify(value, event.message.headers, REGISTRY.outbox_keys(agency), window)
    envelope = to_canonical(agency, value, hub.catalog)
    if envelope.type == DOSSIER_FILED:
        log.info("dossier filed", agency=agency, dossier_id=envelope.subject, correlation_id=envelope.correlationid)
    return envelope
