"""The sweeper: turns unanswered steps, retry times that came, passed deadlines and passed
retention periods into events on the dossier's partition.

The saga table can only change while processing an event of its partition, so the sweeper does
not touch it: for the partitions it owns, it writes ``vn.lienthong.step.timeout``, ``vn.lienthong.deadline.passed`` and
``vn.lienthong.saga.expired`` to
``hub.dossier.events``, and the orchestrate agent applies them in order with the replies. Each
worker sweeps the partitions it owns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from connectors.kafka_client import partition_for
from contracts.catalog import Procedure
from contracts.envelope import Envelope
from contracts.events import DEADLINE_PASSED, SAGA_EXPIRED, STEP_TIMEOUT, DeadlinePassed, SagaExpired, StepTimeout
from streams import saga
from streams.orchestrate import saga_context
from streams.saga_state import SagaState, StepStatus

if TYPE_CHECKING:
    from streams.app import Hub

SOURCE = "/hub/sweeper"


def due_events(
    sagas: Iterable[SagaState], catalog: Mapping[str, Procedure], ctx: saga.Context, step_timeout_s: float
) -> list[Envelope]:
    """A timer event for every step or compensation whose reply is overdue or whose retry time
    came, a deadline event for everything past due, an expiry for every finished saga past its
    retention period (at ``ctx.now``)."""
    events = []
    for state in sagas:

        def event(type_: str, data: StepTimeout | DeadlinePassed | SagaExpired, state: SagaState = state) -> Envelope:
            return Envelope(
                source=SOURCE,
                type=type_,
                subject=state.dossier_id,
                correlationid=state.correlation_id,
                data=data.model_dump(mode="json"),
            )

        for step_id, attempt in saga.timers_due(catalog[state.procedure], state, ctx.now, step_timeout_s):
            events.append(event(STEP_TIMEOUT, StepTimeout(step=step_id, attempt=attempt)))
        for target in saga.overdue_targets(state, ctx.now, ctx.calendar):
            events.append(event(DEADLINE_PASSED, DeadlinePassed(step=target)))
        if saga.expired(state, ctx):
            events.append(event(SAGA_EXPIRED, SagaExpired()))
    return events


def _compensating(state: SagaState) -> bool:
    return any(c.status is StepStatus.RUNNING for c in state.compensations.values())


def _finished_before(state: SagaState, moment: datetime) -> bool:
    return state.finished_at is not None and state.finished_at <= moment


def register(hub: Hub) -> None:
    settings = hub.settings
    retry = settings.retry_policies()

    async def sweep() -> None:
        ctx = saga_context(settings, retry, hub.calendar, hub.clock.now())
        forget_before = ctx.now - timedelta(days=ctx.saga_retention_days)
        # A finished saga has nothing due but its compensations and its expiry: skip the others.
        owned = hub.owned_partitions(hub.topics.dossier_events)
        stored = [
            v
            for k, v in list(hub.sagas.items())
            if v is not None
            and partition_for(k.encode(), hub.topics.partitions) in owned  # the table may hold sagas it no longer owns
            and (not v.done or _compensating(v) or _finished_before(v, forget_before))
        ]
        for event in due_events(stored, hub.catalog, ctx, settings.step_timeout_s):
            await hub.send(hub.topics.dossier_events, event.subject.encode(), event.to_bytes())

    hub.app.timer(interval=settings.sweep_interval_s, on_leader=False, name="sweeper")(sweep)
