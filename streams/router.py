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

:func:`route` is pure: the envelope, the dossier's stored state and a :class:`saga.Context` in;
the new state and its effects out (no effects: nothing changed). What cannot be applied raises
:class:`~contracts.errors.Unprocessable`, which the agent dead-letters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from contracts.catalog import Procedure
from contracts.envelope import Envelope, describe_error
from contracts.errors import Unprocessable
from contracts.events import (
    DEADLINE_PASSED,
    DOSSIER_FILED,
    DOSSIER_SUPPLEMENTED,
    DOSSIER_WITHDRAWN,
    PAYMENT_NOTIFIED,
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


@dataclass(frozen=True)
class Route:
    payload: type[BaseModel]
    apply: Transition | None  # None: the event opens a saga (a filing)
    unchanged: str = ""  # what it means when the transition changes nothing, for the log
    unknown_dossier: Callable[[Any], str] | None = None  # the reason when no saga exists


ROUTES: dict[str, Route] = {
    DOSSIER_FILED: Route(DossierFiled, None, "duplicate filing ignored"),
    STEP_REPLY: Route(StepReply, saga.apply_reply, "duplicate reply ignored"),
    DOSSIER_WITHDRAWN: Route(DossierWithdrawn, saga.apply_withdrawal, "citizen request has nothing to act on"),
    DOSSIER_SUPPLEMENTED: Route(DossierSupplemented, saga.apply_supplement, "citizen request has nothing to act on"),
    PAYMENT_NOTIFIED: Route(
        PaymentNotification,
        saga.apply_payment,
        "repeated payment notification ignored",
        lambda n: f"unknown payment reference {n.reference!r}",
    ),
    STEP_TIMEOUT: Route(StepTimeout, saga.apply_timeout, "the reply, or a newer dispatch, came first"),
    DEADLINE_PASSED: Route(DeadlinePassed, saga.apply_overdue, "already flagged or not yet due"),
}


@dataclass(frozen=True)
class Routed:
    state: SagaState | None  # None when nothing changed
    effects: list[saga.Effect]
    unchanged: str = ""


def route(envelope: Envelope, state: SagaState | None, catalog: Mapping[str, Procedure], ctx: saga.Context) -> Routed:
    """Apply ``envelope`` to the dossier's saga ``state`` (None: no saga yet)."""
    entry = ROUTES.get(envelope.type)
    if entry is None:
        raise Unprocessable(f"unexpected event type {envelope.type!r}")
    try:
        payload: Any = envelope.payload(entry.payload)
    except ValidationError as exc:
        raise Unprocessable(f"invalid {envelope.type}: {describe_error(exc)}") from None
    if entry.apply is None:
        if state is not None:
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
    new, effects = entry.apply(catalog[state.procedure], state, payload, ctx)
    return Routed(new, effects) if effects else Routed(None, [], entry.unchanged)
