"""The effects executor: what a saga transition asks for, as the records to write.

:func:`records` is pure: effects in, ``(topic, key, value)`` records out, in order, so it is tested
without Kafka. For each effect:

* ``Dispatch`` → a step command on the agency's inbox, and an audit record of the field names
  sent and why (never their values);
* ``StatusChange`` → a status update to every recipient, and a transition for operators;
* ``Overdue`` → for the dossier, the apology with its new date to every recipient; a transition;
* ``StepTransition`` → a transition for operators.

Status updates and notices go to one set of recipients: the portal, where the citizen looks,
and the agency that filed the dossier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from contracts import notices
from contracts.envelope import Envelope
from contracts.events import (
    AUDIT,
    DOSSIER_OVERDUE,
    DOSSIER_STATUS,
    STEP_COMMAND,
    TRANSITION,
    AuditRecord,
    OverdueNotice,
    StatusUpdate,
    StepCommand,
    Transition,
)
from contracts.topics import Topics
from streams import saga
from streams.saga_state import SagaState

SOURCE = "/hub/orchestrate"


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes


def recipients(state: SagaState) -> list[str]:
    """Who is told of a dossier's status and notices: the portal and the filing agency."""
    return sorted({"portal", state.filed_by})


def records(
    effects: list[saga.Effect], state: SagaState, cause: Envelope, now: datetime, topics: Topics
) -> list[Record]:
    """The records that carry out ``effects`` (caused by ``cause``), in order."""
    out = _Writer(cause)
    procedure = state.procedure

    def monitor(**fields: Any) -> None:
        out.emit(
            topics.monitor, TRANSITION, Transition(dossier_id=cause.subject, procedure=procedure, at=now, **fields)
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
            out.emit(
                topics.audit,
                AUDIT,
                AuditRecord(
                    dossier_id=cause.subject,
                    agency=effect.agency,
                    action=effect.action,
                    step=effect.step,
                    fields=sorted(field_names(effect.params)),
                    purpose=effect.purpose,
                    at=now,
                ),
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
            monitor(state=effect.status.label, status=effect.status, reason=effect.reason)
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
            monitor(step=effect.step, agency=effect.agency, state="overdue", reason=overdue_reason(effect))
        else:
            monitor(
                step=effect.step,
                agency=effect.agency,
                state=effect.state,
                reason=effect.reason,
                duration_ms=effect.duration_ms,
            )
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
        elif effect.state not in saga.ATTENTION_FREE:
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
        self._key = cause.subject.encode()
        self.records: list[Record] = []

    def emit(self, topic: str, type_: str, data: BaseModel, idempotencykey: str | None = None) -> None:
        out = self._cause.caused(source=SOURCE, type=type_, data=data, idempotencykey=idempotencykey)
        self.records.append(Record(topic, self._key, out.to_bytes()))
