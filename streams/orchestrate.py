"""Orchestrate: one saga per dossier, its state in a changelog-backed Faust table.

Reads ``hub.dossier.events`` (filings and agency replies, keyed by dossier code, so the table is
co-partitioned with its input), runs :mod:`streams.saga`, and carries out its effects: commands to
agency inboxes (with an audit record of the fields sent), status updates to the portal and the
filing agency, and a transition on ``hub.monitor.transitions`` for every change.
"""

from __future__ import annotations

import copy
from datetime import datetime

import faust
import structlog
from faust.types import EventT
from pydantic import ValidationError

from contracts import topics
from contracts.envelope import Envelope, describe_error
from contracts.events import (
    AUDIT,
    DEADLINE_PASSED,
    DOSSIER_FILED,
    DOSSIER_OVERDUE,
    DOSSIER_SUPPLEMENTED,
    DOSSIER_WITHDRAWN,
    DOSSIER_STATUS,
    STEP_COMMAND,
    STEP_REPLY,
    STEP_TIMEOUT,
    TRANSITION,
    AuditRecord,
    DeadlinePassed,
    DossierFiled,
    DossierSupplemented,
    DossierWithdrawn,
    OverdueNotice,
    PAYMENT_NOTIFIED,
    PaymentNotification,
    StatusUpdate,
    StepCommand,
    StepReply,
    StepTimeout,
    Transition,
)
from contracts.filings import FILING_MODELS
from streams import saga
from streams.app import app, calendar, catalog, clock, dossier_events, raw_topic, settings
from streams.deadletter import guarded_agent

log = structlog.get_logger("lienthong.orchestrate")
SOURCE = "/hub/orchestrate"

sagas = app.Table("sagas", default=None, partitions=settings.partitions,
                  schema=faust.Schema(key_serializer="json", value_serializer="json"),
                  help="Saga state per dossier code")


class Unprocessable(Exception):
    """The event cannot be applied to any saga; the message is the reason."""


async def handle(event: EventT) -> None:
    try:
        envelope = Envelope.from_bytes(event.value)
    except ValidationError as exc:
        raise Unprocessable(f"invalid envelope: {describe_error(exc)}") from None
    now = clock.now()
    bound = log.bind(dossier_id=envelope.subject, correlation_id=envelope.correlationid)
    if envelope.type == DOSSIER_FILED:
        if sagas.get(envelope.subject) is not None:
            bound.info("duplicate filing ignored")
            return
        filed = _payload(envelope, DossierFiled)
        proc = catalog().get(filed.procedure)
        if proc is None:
            raise Unprocessable(f"unknown procedure {filed.procedure!r}")
        try:
            canonical = FILING_MODELS[proc.filing].model_validate(filed.filing)
        except ValidationError as exc:
            raise Unprocessable(f"filing does not fit procedure {proc.id}: {describe_error(exc)}") from None
        # The saga keeps the normalised filing (current units, ISO dates, NFC text).
        filed = filed.model_copy(update={"filing": canonical.model_dump(mode="json")})
        state, effects = saga.start(proc, filed, envelope.correlationid, now, calendar())
        state["filed_by"] = filed.filed_by
    elif envelope.type == STEP_REPLY:
        state = _known(envelope)
        reply = _payload(envelope, StepReply)
        state, effects = saga.apply_reply(catalog()[state["procedure"]], state, reply, now, calendar())
        if not effects:
            bound.info("duplicate reply ignored", step=reply.step)
            return
    elif envelope.type in (DOSSIER_WITHDRAWN, DOSSIER_SUPPLEMENTED):
        state = _known(envelope)
        proc = catalog()[state["procedure"]]
        if envelope.type == DOSSIER_WITHDRAWN:
            state, effects = saga.apply_withdrawal(proc, state, _payload(envelope, DossierWithdrawn).reason, now)
        else:
            state, effects = saga.apply_supplement(proc, state, _payload(envelope, DossierSupplemented).documents, now)
        if not effects:
            bound.info("citizen request has nothing to act on", type=envelope.type, status=state["status"])
            return
    elif envelope.type == PAYMENT_NOTIFIED:
        notification = _payload(envelope, PaymentNotification)
        if sagas.get(envelope.subject) is None:
            raise Unprocessable(f"unknown payment reference {notification.reference!r}")
        state = _known(envelope)
        try:
            state, effects = saga.apply_payment(catalog()[state["procedure"]], state, notification, now, calendar())
        except saga.PaymentMismatch as exc:
            raise Unprocessable(str(exc)) from None
        if not effects:
            bound.info("repeated payment notification ignored", reference=notification.reference)
            return
    elif envelope.type == STEP_TIMEOUT:
        state = _known(envelope)
        timeout = _payload(envelope, StepTimeout)
        state, effects = saga.apply_timeout(catalog()[state["procedure"]], state, timeout.step,
                                            timeout.attempt, now, settings.step_attempts)
        if not effects:
            return  # the reply, or a newer dispatch, came first
        bound.warning("step timed out", step=timeout.step, attempt=timeout.attempt)
    elif envelope.type == DEADLINE_PASSED:
        state = _known(envelope)
        passed = _payload(envelope, DeadlinePassed)
        state, effects = saga.apply_overdue(catalog()[state["procedure"]], state, passed.step, now,
                                            calendar(), settings.apology_extension_days)
        if not effects:
            return
    else:
        raise Unprocessable(f"unexpected event type {envelope.type!r}")
    await perform(effects, state, envelope, now)
    sagas[envelope.subject] = state


@app.timer(interval=settings.sweep_interval_s, on_leader=False)
async def sweep() -> None:
    """Turn unanswered steps and passed deadlines into events on the dossier's own partition.

    The saga table can only change while processing an event of its partition, so the sweeper
    does not touch it: the orchestrate agent applies these events in order with the replies.
    Each worker sweeps the partitions it owns.
    """
    now = clock.now()
    for dossier_id, state in list(sagas.items()):
        for step_id, attempt in saga.overdue_steps(catalog()[state["procedure"]], state, now, settings.step_timeout_s):
            await _tick(dossier_id, state, STEP_TIMEOUT, StepTimeout(step=step_id, attempt=attempt))
        for target in saga.overdue_targets(state, now, calendar()):
            await _tick(dossier_id, state, DEADLINE_PASSED, DeadlinePassed(step=target))


async def _tick(dossier_id: str, state: saga.State, type_: str, data) -> None:
    event = Envelope(source="/hub/sweeper", type=type_, subject=dossier_id,
                     correlationid=state["correlation_id"], data=data.model_dump(mode="json"))
    await dossier_events().send(key=dossier_id.encode(), value=event.to_bytes())


guarded_agent(topics.dossier_events(), "orchestrate", "orchestrate", handle, refusal=Unprocessable)


def _known(envelope: Envelope) -> saga.State:
    """A copy of the dossier's saga state: the table changes only when the new state is stored."""
    state = sagas.get(envelope.subject)
    if state is None:
        raise Unprocessable(f"{envelope.type} for a dossier the hub does not know")
    return copy.deepcopy(state)


def _payload(envelope: Envelope, model):
    try:
        return envelope.payload(model)
    except ValidationError as exc:
        raise Unprocessable(f"invalid {envelope.type}: {describe_error(exc)}") from None


async def perform(effects: list[saga.Effect], state: saga.State, cause: Envelope, now: datetime) -> None:
    """Carry out the saga's effects, in order. Sends are buffered, not awaited one by one."""
    key = cause.subject.encode()
    bound = log.bind(dossier_id=cause.subject, correlation_id=cause.correlationid)
    for effect in effects:
        if isinstance(effect, saga.Dispatch):
            command = StepCommand(step=effect.step, action=effect.action, agency=effect.agency,
                                  params=effect.params, purpose=effect.purpose,
                                  supplement=effect.supplement or {})
            out = cause.caused(source=SOURCE, type=STEP_COMMAND, data=command,
                               idempotencykey=effect.idempotency_key)
            await raw_topic(topics.inbox(effect.agency)).send(key=key, value=out.to_bytes())
            audit = AuditRecord(dossier_id=cause.subject, agency=effect.agency, action=effect.action,
                                step=effect.step, fields=sorted(_field_names(effect.params)),
                                purpose=effect.purpose, at=now)
            await _emit(topics.audit(), cause, AUDIT, audit)
            bound.info("command dispatched", step=effect.step, agency=effect.agency, action=effect.action)
        elif isinstance(effect, saga.StatusChange):
            update = StatusUpdate(dossier_id=cause.subject, procedure=state["procedure"],
                                  status=effect.status, label=effect.status.label, reason=effect.reason)
            for agency in sorted({"portal", state.get("filed_by") or "portal"}):
                await _emit(topics.inbox(agency), cause, DOSSIER_STATUS, update)
            await _emit(topics.monitor(), cause, TRANSITION, Transition(
                dossier_id=cause.subject, procedure=state["procedure"], state=effect.status.label,
                status=effect.status, reason=effect.reason, at=now))
            bound.info("dossier status changed", status=int(effect.status), label=effect.status.label,
                       reason=effect.reason)
        elif isinstance(effect, saga.Overdue):
            await _overdue(effect, state, cause, now, bound)
        else:
            await _emit(topics.monitor(), cause, TRANSITION, Transition(
                dossier_id=cause.subject, procedure=state["procedure"], step=effect.step,
                agency=effect.agency, state=effect.state, reason=effect.reason, at=now,
                duration_ms=effect.duration_ms))
            if effect.state not in (saga.RUNNING, saga.SUCCEEDED, saga.SKIPPED):
                bound.warning("step ended without success", step=effect.step, agency=effect.agency,
                              state=effect.state, reason=effect.reason)


async def _overdue(effect: saga.Overdue, state: saga.State, cause: Envelope, now: datetime, bound) -> None:
    if effect.step is None:
        notice = OverdueNotice(
            dossier_id=cause.subject, procedure=state["procedure"], due_date=effect.due_date,
            new_due_date=effect.new_due_date,
            apology=(f"Hồ sơ {cause.subject} đã quá hạn giải quyết ngày {effect.due_date}. Cơ quan xin lỗi "
                     f"và hẹn trả kết quả ngày {effect.new_due_date}. (The dossier is overdue; we apologise "
                     f"and will return the result by {effect.new_due_date}.)"))
        for agency in sorted({"portal", state.get("filed_by") or "portal"}):
            await _emit(topics.inbox(agency), cause, DOSSIER_OVERDUE, notice)
        reason = f"due {effect.due_date}; apology sent, new date {effect.new_due_date}"
    else:
        reason = f"step due {effect.due_date}"
    await _emit(topics.monitor(), cause, TRANSITION, Transition(
        dossier_id=cause.subject, procedure=state["procedure"], step=effect.step, agency=effect.agency,
        state="overdue", reason=reason, at=now))
    bound.warning("overdue", step=effect.step, reason=reason)


async def _emit(topic: str, cause: Envelope, type_: str, data) -> None:
    out = cause.caused(source=SOURCE, type=type_, data=data)
    await raw_topic(topic).send(key=cause.subject.encode(), value=out.to_bytes())


def _field_names(params: dict, prefix: str = "") -> list[str]:
    names = []
    for name, value in params.items():
        if isinstance(value, dict):
            names += _field_names(value, f"{prefix}{name}.")
        else:
            names.append(prefix + name)
    return names
