"""The router: which saga transition each event type on ``hub.dossier.events`` runs.

One look at :data:`ROUTES` tells where an event type is handled::

    event type                          payload               transition
    vn.lienthong.dossier.filed          DossierFiled          saga.start (opens the saga)
    vn.lienthong.step.reply             StepReply             saga.apply_reply
    vn.lienthong.dossier.withdrawn      DossierWithdrawn      saga.apply_withdrawal
    vn.lienthong.dossier.supplemented   DossierSupplemented   saga.apply_supplement
    vn.lienthong.payment.notified       PaymentNotification   saga.apply_payment
    vn.lienthong.step.timeout           StepTimeout           saga.apply_timeout   (from the sweeper)
    vn.lienthong.deadline.passed        DeadlinePassed        saga.apply_overdue   (from the sweeper)
    vn.lienthong.saga.expired           SagaExpired           forget the saga      (from the sweeper)

:func:`route` is pure: the envelope, the dossier's stored state and a :class:`saga.Context` in;
the new state and its effects out (no effects: nothing changed). What cannot be applied raises
:class:`~contracts.errors.Unprocessable`, which the agent dead-letters.

Before a transition runs, its route admits the event from its sender: ingest stamps every event
it forwards with ``source = /agency/<code>`` of the outbox it arrived on (only the hub writes
``hub.dossier.events``), so a reply counts only from the agency its step was sent to and a
citizen's request only from the filer or the portal (:func:`saga.admit_reply`,
:func:`saga.admit_request`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from contracts.agencies import AGENCIES
from contracts.catalog import Procedure
from contracts.envelope import Envelope, describe_error
from contracts.errors import FilingConflict, NotEntitled, Unprocessable
from contracts.events import (
    DEADLINE_PASSED,
    DOSSIER_FILED,
    DOSSIER_SUPPLEMENTED,
    DOSSIER_WITHDRAWN,
    PAYMENT_NOTIFIED,
    SAGA_EXPIRED,
    STEP_REPLY,
    STEP_TIMEOUT,
    DeadlinePassed,
    DossierFiled,
    DossierSupplemented,
    DossierWithdrawn,
    PaymentNotification,
    StepReply,
    StepTimeout,
)
from streams import saga
from streams.saga_state import SagaState

Transition = Callable[[Procedure, SagaState, Any, saga.Context], saga.Result]
Admit = Callable[[Procedure, SagaState, Any, Envelope], None]
AGENCY_SOURCE = "/agency/"
"""Ingest's ``source`` for what arrived on an agency's outbox: ``/agency/<code>``."""


def sender(envelope: Envelope) -> str:
    """The agency whose outbox the event arrived on ('' for the hub's own events)."""
    return envelope.source.removeprefix(AGENCY_SOURCE) if envelope.source.startswith(AGENCY_SOURCE) else ""


def _admit_reply(proc: Procedure, state: SagaState, reply: Any, envelope: Envelope) -> None:
    saga.admit_reply(proc, state, reply, sender(envelope), envelope.idempotencykey)


def _admit_payment(proc: Procedure, state: SagaState, _: Any, envelope: Envelope) -> None:
    agency = AGENCIES.get(sender(envelope))
    if agency is None or not agency.notifies_payments:
        raise NotEntitled(f"payment notification from {envelope.source}, which does not notify payments")


def _require_hub(envelope: Envelope) -> None:
    if sender(envelope):
        raise NotEntitled(f"{envelope.type} comes only from the hub, not from {envelope.source}")


def _admit_hub_only(proc: Procedure, state: SagaState, _: Any, envelope: Envelope) -> None:
    _require_hub(envelope)


def _admit_withdrawal(proc: Procedure, state: SagaState, _: Any, envelope: Envelope) -> None:
    saga.admit_request(proc, state, "withdraw", sender(envelope))


def _admit_supplement(proc: Procedure, state: SagaState, _: Any, envelope: Envelope) -> None:
    saga.admit_request(proc, state, "supplement", sender(envelope))


@dataclass(frozen=True)
class Route:
    payload: type[BaseModel]
    apply: Transition | None  # None: the event opens a saga (a filing)
    unchanged: str = ""  # what it means when the transition changes nothing, for the log
    unknown_dossier: Callable[[Any], str] | None = None  # the reason when no saga exists
    admit: Admit | None = None  # raises Unprocessable unless the sender may send it


ROUTES: dict[str, Route] = {
    DOSSIER_FILED: Route(DossierFiled, None, "duplicate filing ignored"),
    STEP_REPLY: Route(StepReply, saga.apply_reply, "duplicate reply ignored", admit=_admit_reply),
    DOSSIER_WITHDRAWN: Route(
        DossierWithdrawn,
        saga.apply_withdrawal,
        "citizen request has nothing to act on",
        admit=_admit_withdrawal,
    ),
    DOSSIER_SUPPLEMENTED: Route(
        DossierSupplemented,
        saga.apply_supplement,
        "citizen request has nothing to act on",
        admit=_admit_supplement,
    ),
    PAYMENT_NOTIFIED: Route(
        PaymentNotification,
        saga.apply_payment,
        "repeated payment notification ignored",
        lambda n: f"unknown payment reference {n.reference!r}",
        admit=_admit_payment,
    ),
    STEP_TIMEOUT: Route(
        StepTimeout, saga.apply_timeout, "the reply, or a newer dispatch, came first", admit=_admit_hub_only
    ),
    DEADLINE_PASSED: Route(DeadlinePassed, saga.apply_overdue, "already flagged or not yet due", admit=_admit_hub_only),
}


@dataclass(frozen=True)
class Routed:
    state: SagaState | None  # None when nothing changed
    effects: list[saga.Effect]
    unchanged: str = ""
    forget: bool = False  # delete the saga: its retention has passed


def route(envelope: Envelope, state: SagaState | None, catalog: Mapping[str, Procedure], ctx: saga.Context) -> Routed:
    """Apply ``envelope`` to the dossier's saga ``state`` (None: no saga yet)."""
    if envelope.type == SAGA_EXPIRED:
        _require_hub(envelope)
        if state is not None and saga.expired(state, ctx):
            return Routed(None, [], forget=True)
        return Routed(None, [], "not finished, or finished too recently, to forget")
    entry = ROUTES.get(envelope.type)
    if entry is None:
        raise Unprocessable(f"unexpected event type {envelope.type!r}")
    try:
        payload: Any = envelope.payload(entry.payload)
    except ValidationError as exc:
        raise Unprocessable(f"invalid {envelope.type}: {describe_error(exc)}") from None
    if entry.apply is None:
        if state is not None:
            if (payload.procedure, payload.filing) != (state.procedure, state.filing):
                raise FilingConflict(
                    f"dossier code {envelope.subject} was already filed with other content: file under a new code",
                    sender(envelope),
                )
            return Routed(None, [], entry.unchanged)
        procedure = catalog.get(payload.procedure)
        if procedure is None:
            raise Unprocessable(f"unknown procedure {payload.procedure!r}")
        new, effects = saga.start(procedure, payload, envelope.correlationid, ctx)
        return Routed(new, effects)
    if state is None:
        raise Unprocessable(
            entry.unknown_dossier(payload)
            if entry.unknown_dossier
            else f"{envelope.type} for a dossier the hub does not know"
        )
    proc = catalog[state.procedure]
    if entry.admit is not None:
        entry.admit(proc, state, payload, envelope)
    new, effects = entry.apply(proc, state, payload, ctx)
    return Routed(new, effects) if effects else Routed(None, [], entry.unchanged)
