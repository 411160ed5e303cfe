"""Orchestrate: one saga per dossier, its state in a changelog-backed Faust table.

Reads ``hub.dossier.events`` (filings, agency replies, citizens' requests, payment notices and
the sweeper's ticks, keyed by dossier code, so the table is co-partitioned with its input), lets
:mod:`streams.router` pick and run the saga transition, writes the records
:mod:`streams.effects` makes of its effects, then stores the new state.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import structlog
from faust.types import EventT
from pydantic import ValidationError

from contracts.envelope import Envelope, describe_error
from contracts.errors import Unprocessable
from streams import effects, saga
from streams.deadletter import guarded_agent
from streams.router import route

if TYPE_CHECKING:
    from streams.app import Hub

log = structlog.get_logger("lienthong.orchestrate")


def register(hub: Hub) -> None:
    settings = hub.settings

    async def handle(event: EventT) -> None:
        try:
            envelope = Envelope.from_bytes(event.value)
        except ValidationError as exc:
            raise Unprocessable(f"invalid envelope: {describe_error(exc)}") from None
        ctx = saga.Context(now=hub.clock.now(), calendar=hub.calendar, step_attempts=settings.step_attempts,
                           apology_extension_days=settings.apology_extension_days)
        bound = log.bind(dossier_id=envelope.subject, correlation_id=envelope.correlationid)
        stored = hub.sagas.get(envelope.subject)
        routed = route(envelope, copy.deepcopy(stored), hub.catalog, ctx)
        if routed.state is None:
            bound.info("event changed nothing", type=envelope.type, reason=routed.unchanged)
            return
        for record in effects.records(routed.effects, routed.state, envelope, ctx.now, hub.topics):
            await hub.send(record.topic, record.key, record.value)
        effects.log_effects(routed.effects, bound)
        hub.sagas[envelope.subject] = routed.state

    guarded_agent(hub, hub.topics.dossier_events, "orchestrate", "orchestrate", handle)
