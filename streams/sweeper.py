"""The sweeper: turns unanswered steps and passed deadlines into events on the dossier's partition.

The saga table can only change while processing an event of its partition, so the sweeper does
not touch it: it writes ``vn.lienthong.step.timeout`` and ``vn.lienthong.deadline.passed`` to
``hub.dossier.events``, and the orchestrate agent applies them in order with the replies. Each
worker sweeps the partitions it owns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from contracts.catalog import Procedure
from contracts.envelope import Envelope
from contracts.events import DEADLINE_PASSED, STEP_TIMEOUT, DeadlinePassed, StepTimeout
from contracts.working_days import WorkingCalendar
from streams import saga
from streams.saga_state import SagaState

if TYPE_CHECKING:
    from streams.app import Hub

SOURCE = "/hub/sweeper"


def due_events(
    sagas: Iterable[SagaState],
    catalog: Mapping[str, Procedure],
    now: datetime,
    calendar: WorkingCalendar,
    step_timeout_s: float,
) -> list[Envelope]:
    """A timeout for every step whose reply is overdue, a deadline event for everything past due."""
    events = []
    for state in sagas:

        def event(type_: str, data: StepTimeout | DeadlinePassed, state: SagaState = state) -> Envelope:
            return Envelope(
                source=SOURCE,
                type=type_,
                subject=state.dossier_id,
                correlationid=state.correlation_id,
                data=data.model_dump(mode="json"),
            )

        for step_id, attempt in saga.overdue_steps(catalog[state.procedure], state, now, step_timeout_s):
            events.append(event(STEP_TIMEOUT, StepTimeout(step=step_id, attempt=attempt)))
        for target in saga.overdue_targets(state, now, calendar):
            events.append(event(DEADLINE_PASSED, DeadlinePassed(step=target)))
    return events


def register(hub: Hub) -> None:
    settings = hub.settings

    async def sweep() -> None:
        # Finished sagas have nothing due: skip them before paying for validation.
        stored = [SagaState.model_validate(v) for v in list(hub.sagas.values()) if v is not None and not v["done"]]
        for event in due_events(stored, hub.catalog, hub.clock.now(), hub.calendar, settings.step_timeout_s):
            await hub.send(hub.topics.dossier_events, event.subject.encode(), event.to_bytes())

    hub.app.timer(interval=settings.sweep_interval_s, on_leader=False, name="sweeper")(sweep)
