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
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from faust.types import EventT
from pydantic import BaseModel, ValidationError

from contracts import strict_json
from contracts.agencies import AGENCIES, REGISTRY
from contracts.catalog import Procedure, canonical_filing, procedure_for
from contracts.envelope import Envelope, describe_error, filing_envelope
from contracts.errors import FilingRejected, IdentifierError, InvalidFiling, Rejected
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
from contracts.identifiers import check_dossier_code
from streams import normalize

if TYPE_CHECKING:
    from streams.app import Hub

log = structlog.get_logger("lienthong.ingest")


@dataclass(frozen=True)
class NativeFormat:
    """An agency's own filing format: its translator, the procedure its filings open and the
    field that holds the dossier code (to tell the filer which filing was refused)."""

    translate: Callable[[dict[str, Any]], DossierFiled]
    procedure: str
    code_field: str


# Agencies that also file dossiers in their own format.
NATIVE_FILINGS: dict[str, NativeFormat] = {
    "justice": NativeFormat(normalize.justice_birth, "birth_bundle", "ma_ho_so"),
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
    native = NATIVE_FILINGS.get(agency)
    if native is None:
        raise Rejected(f"not an envelope, and {agency} has no native filing format")
    try:
        filed = native.translate(doc)
    except FilingRejected as exc:
        raise refused_filing(f"invalid filing: {exc}", doc.get(native.code_field), native.procedure) from None
    _check_may_file(agency, filed)
    return filing_envelope(filed, f"/agency/{agency}", seed=hashlib.sha256(raw).hexdigest())


def refused_filing(reason: str, code: object, procedure: str, correlation_id: str | None = None) -> Rejected:
    """``reason`` as an :class:`InvalidFiling` its filer is told of, when ``code`` is a dossier
    code the filer can match; otherwise only dead-lettered."""
    try:
        dossier_id = check_dossier_code(code) if isinstance(code, str) else None
    except IdentifierError:
        dossier_id = None
    return InvalidFiling(reason, dossier_id, procedure, correlation_id) if dossier_id else Rejected(reason)


def _check_may_file(agency: str, filed: DossierFiled, correlation_id: str | None = None) -> None:
    if not AGENCIES[agency].may("file", filed.procedure):
        reason = f"{agency} may not file {filed.procedure!r} dossiers"
        raise refused_filing(reason, filed.dossier_id, filed.procedure, correlation_id)


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
    _check_may_file(agency, filed, envelope.correlationid)
    try:
        canonical = canonical_filing(procedure_for(catalog, filed.procedure), filed.filing)
    except FilingRejected as exc:
        reason = f"invalid filing: {exc}"
        raise refused_filing(reason, filed.dossier_id, filed.procedure, envelope.correlationid) from None
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
