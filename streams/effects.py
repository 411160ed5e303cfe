"""The effects executor: what a saga transition asks for, as the records to write.

:func:`records` is pure: effects in, ``(topic, key, value)`` records out, in order, so it is tested
without Kafka. For each effect:

* ``Dispatch`` → a step command on the agency's inbox, and an audit record of the field names
  sent and why (never their values);
* ``StatusChange`` → a status update to every recipient, and a transition for operators;
* ``Overdue`` → for the dossier, the apology with its new date to every recipient and an alert for
  operators; a transition;
* ``StepTransition`` → a transition for operators;
* ``Exchanged`` → an exchange record on ``hub.monitor.exchanges``, keyed by the agency's code;
* ``Stuck`` → a ``step_stuck`` alert for operators.

The transitions for operators that one event caused go into one ``hub.monitor.transitions``
record (:class:`~contracts.events.Transitions`), in order, after the event's other records.

A reply that changed the saga is audited too (who answered, the outcome, the result's field
names), and so is every status update or notice sent (one audit record per recipient). Each
audit record names the people whose personal IDs are in the data only by pseudonym
(:func:`contracts.audit.subject_ref`); the orchestrator links the records into the audit chain.

Status updates and notices go to one set of recipients: the portal, where the citizen looks,
and the agency that filed the dossier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from contracts import notices
from contracts.actions import ACTIONS
from contracts.audit import personal_ids, subject_ref
from contracts.envelope import Envelope
from contracts.events import (
    DOSSIER_OVERDUE,
    DOSSIER_STATUS,
    EXCHANGE,
    STEP_COMMAND,
    STEP_REPLY,
    TRANSITIONS,
    Alert,
    AuditRecord,
    Exchange,
    OverdueNotice,
    StatusUpdate,
    StepCommand,
    StepReply,
    Transition,
    Transitions,
)
from contracts.topics import Topics
from streams import saga
from streams.saga_state import SagaState

SOURCE = "/hub/orchestrate"
AuditKind = Literal["command", "reply", "status"]


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes
    plain: bool = False  # signed JSON, not an envelope (an alert)


def recipients(state: SagaState) -> list[str]:
    """Who is told of a dossier's status and notices: the portal and the filing agency."""
    return sorted({"portal", state.filed_by})


def records(
    effects: list[saga.Effect], state: SagaState, cause: Envelope, now: datetime, topics: Topics, audit_key: bytes
) -> list[Record]:
    """The records that carry out ``effects`` (caused by ``cause``), in order; audit records
    (on ``topics.audit``) are unlinked :class:`AuditRecord` JSON."""
    out = _Writer(cause)
    procedure = state.procedure

    def audit(kind: AuditKind, agency: str, fields: list[str], people: Sequence[str] = (), **extra: Any) -> None:
        subjects = sorted({subject_ref(audit_key, pid) for pid in people})
        record = AuditRecord(
            kind=kind,
            dossier_id=cause.subject,
            agency=agency,
            fields=sorted(fields),
            subjects=subjects,
            at=now,
            **extra,
        )
        out.records.append(Record(topics.audit, out.key, record.model_dump_json().encode()))

    changes: list[Transition] = []  # for operators: one record for all of them, at the end

    def monitor(**fields: Any) -> None:
        changes.append(Transition(dossier_id=cause.subject, procedure=procedure, at=now, **fields))

    if cause.type == STEP_REPLY:
        reply = cause.payload(StepReply)
        action = ACTIONS.get(reply.action)
        audit(
            "reply",
            reply.agency,
            field_names(reply.result),
            personal_ids(action.result, reply.result) if action else [],
            action=reply.action,
            step=reply.step,
            outcome=reply.outcome,
        )
    for effect in effects:
        if isinstance(effect, saga.Dispatch):
            command = StepCommand(
                step=effect.step,
                action=effect.action,
                agency=effect.agency,
                params=effect.params,
                purpose=effect.purpose,
                supplement=effect.supplement or {},
            )
            out.emit(topics.inbox(effect.agency), STEP_COMMAND, command, idempotencykey=effect.idempotency_key)
            audit(
                "command",
                effect.agency,
                field_names(effect.params),
                personal_ids(ACTIONS[effect.action].params, effect.params),
                action=effect.action,
                step=effect.step,
                purpose=effect.purpose,
            )
        elif isinstance(effect, saga.StatusChange):
            update = StatusUpdate(
                dossier_id=cause.subject,
                procedure=procedure,
                status=effect.status,
                label=effect.status.label,
                reason=effect.reason,
            )
            for agency in recipients(state):
                out.emit(topics.inbox(agency), DOSSIER_STATUS, update)
                audit("status", agency, field_names(update.model_dump(mode="json", exclude_defaults=True)))
            monitor(state=effect.status.label, status=effect.status, reason=effect.reason)
        elif isinstance(effect, saga.Exchanged):
            exchange = Exchange(
                dossier_id=cause.subject,
                procedure=procedure,
                step=effect.step,
                agency=effect.agency,
                action=effect.action,
                attempt=effect.attempt,
                sent_at=effect.sent_at,
                answered_at=now,
                duration_ms=max(int((now - effect.sent_at).total_seconds() * 1000), 0),
                outcome=effect.outcome,
                request_bytes=effect.request_bytes,
                response_bytes=effect.response_bytes,
            )
            out.emit(topics.exchanges, EXCHANGE, exchange, key=effect.agency.encode())
        elif isinstance(effect, saga.Overdue):
            if effect.step is None:
                assert effect.new_due_date is not None
                notice = OverdueNotice(
                    dossier_id=cause.subject,
                    procedure=procedure,
                    due_date=effect.due_date,
                    new_due_date=effect.new_due_date,
                    apology=notices.render(
                        "apology", dossier_id=cause.subject, due_date=effect.due_date, new_due_date=effect.new_due_date
                    ),
                )
                for agency in recipients(state):
                    out.emit(topics.inbox(agency), DOSSIER_OVERDUE, notice)
                    audit("status", agency, field_names(notice.model_dump(mode="json")))
                alert = Alert(
                    kind="dossier_overdue",
                    subject=cause.subject,
                    message=f"dossier {cause.subject} ({procedure}) passed its due date {effect.due_date}; "
                    f"the citizen was sent an apology promising {effect.new_due_date}",
                    action="Find the step it waits on (`lienthong status <dossier code>`) and chase that agency; "
                    "the new date is a promise (runbook: docs/operations.md, 'Alerts')",
                    at=now,
                )
                out.records.append(Record(topics.alerts, out.key, alert.model_dump_json().encode(), plain=True))
            monitor(step=effect.step, agency=effect.agency, state="overdue", reason=overdue_reason(effect))
        elif isinstance(effect, saga.Stuck):
            alert = Alert(
                kind="step_stuck",
                subject=cause.subject,
                agency=effect.agency,
                message=f"dossier {cause.subject} ({procedure}): {effect.agency} did not answer {effect.step} "
                f"(attempt {effect.attempt}) within {effect.waited_s:.0f} s; it is sent again with growing delays",
                action=f"If {effect.agency} also has an agency_failing alert, it is down: see that alert. Otherwise "
                f"ask {effect.agency}'s operators whether the {effect.step} command for this dossier reached them "
                "(runbook: docs/operations.md, 'Alerts')",
                at=now,
            )
            out.records.append(Record(topics.alerts, out.key, alert.model_dump_json().encode(), plain=True))
        else:
            monitor(
                step=effect.step,
                agency=effect.agency,
                state=effect.state,
                reason=effect.reason,
                duration_ms=effect.duration_ms,
            )
    if changes:
        out.emit(topics.monitor, TRANSITIONS, Transitions(transitions=changes))
    return out.records


def log_effects(effects: list[saga.Effect], log: Any) -> None:
    """One log line per effect worth an operator's attention (``log`` is bound to the dossier)."""
    for effect in effects:
        if isinstance(effect, saga.Dispatch):
            log.info("command dispatched", step=effect.step, agency=effect.agency, action=effect.action)
        elif isinstance(effect, saga.StatusChange):
            log.info(
                "dossier status changed", status=int(effect.status), label=effect.status.label, reason=effect.reason
            )
        elif isinstance(effect, saga.Overdue):
            log.warning("overdue", step=effect.step, reason=overdue_reason(effect))
        elif isinstance(effect, saga.Stuck):
            log.warning("step got no reply", step=effect.step, agency=effect.agency, attempt=effect.attempt)
        elif isinstance(effect, saga.StepTransition) and effect.state not in saga.ATTENTION_FREE:
            log.warning(
                "step ended without success",
                step=effect.step,
                agency=effect.agency,
                state=effect.state,
                reason=effect.reason,
            )


def overdue_reason(effect: saga.Overdue) -> str:
    if effect.step is None:
        return f"due {effect.due_date}; apology sent, new date {effect.new_due_date}"
    return f"step due {effect.due_date}"


def field_names(params: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the leaf fields in ``params``."""
    names = []
    for name, value in params.items():
        if isinstance(value, dict):
            names += field_names(value, f"{prefix}{name}.")
        else:
            names.append(prefix + name)
    return names


class _Writer:
    def __init__(self, cause: Envelope) -> None:
        self._cause = cause
        self.key = cause.subject.encode()
        self.records: list[Record] = []
        self._emitted = 0

    def emit(
        self, topic: str, type_: str, data: BaseModel, idempotencykey: str | None = None, key: bytes | None = None
    ) -> None:
        """Add an envelope (keyed by the dossier code unless ``key``) whose id is derived from the
        cause and its place: a consumer that sees a record again after the hub re-processed its
        cause recognises it by its id."""
        out = self._cause.caused(source=SOURCE, type=type_, data=data, idempotencykey=idempotencykey, nth=self._emitted)
        self._emitted += 1
        self.records.append(Record(topic, key or self.key, out.to_bytes()))
