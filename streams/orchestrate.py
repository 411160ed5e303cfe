"""Orchestrate: one saga per dossier, its state in a changelog-backed Faust table.

Reads ``hub.dossier.events`` (filings, agency replies, citizens' requests, payment notices and
the sweeper's ticks, keyed by dossier code, so the table is co-partitioned with its input), lets
:mod:`streams.router` pick and run the saga transition, writes the records
:mod:`streams.effects` makes of its effects, then stores the new state. Audit records go to
:class:`streams.audit.AuditLog`, one entry per event, on the partition number of the event (one
writer per chain).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import datetime
from typing import TYPE_CHECKING

import structlog
from faust.types import EventT
from pydantic import ValidationError

from contracts.catalog import Procedure
from contracts.envelope import Envelope, describe_error
from contracts.errors import Unprocessable
from contracts.retry import RetryPolicy
from contracts.topics import Send, Topics
from contracts.working_days import WorkingCalendar
from streams import audit, effects, saga
from streams.clock import Clock
from streams.deadletter import guarded_agent
from streams.router import route
from streams.saga_state import SagaState
from streams.settings import HubSettings

if TYPE_CHECKING:
    from streams.app import Hub

log = structlog.get_logger("lienthong.orchestrate")


def saga_context(
    settings: HubSettings, retry: Mapping[str, RetryPolicy], calendar: WorkingCalendar, now: datetime
) -> saga.Context:
    """What a transition at ``now`` is judged against, from the worker's settings."""
    return saga.Context(
        now=now,
        calendar=calendar,
        retry=retry,
        apology_extension_days=settings.apology_extension_days,
        saga_retention_days=settings.saga_retention_days,
    )


class Orchestrator:
    """Applies one event to its dossier's saga; the table and the sender are injected."""

    def __init__(
        self,
        sagas: MutableMapping[str, SagaState],
        catalog: Mapping[str, Procedure],
        calendar: WorkingCalendar,
        clock: Clock,
        settings: HubSettings,
        topics: Topics,
        send: Send,
        audit_log: audit.AuditLog,
        send_plain: Send,
    ) -> None:
        self._sagas, self._catalog, self._calendar, self._clock = sagas, catalog, calendar, clock
        self._settings, self._topics, self._send, self._audit = settings, topics, send, audit_log
        self._send_plain = send_plain
        self._audit_key = settings.audit_key.get_secret_value().encode()
        self._retry = settings.retry_policies()

    async def handle(self, raw: bytes, partition: int) -> None:
        """Route the event, write the records its effects make, then store the new state.

        Raises Unprocessable for what no saga can apply (the agent dead-letters it)."""
        try:
            envelope = Envelope.from_bytes(raw)
        except ValidationError as exc:
            raise Unprocessable(f"invalid envelope: {describe_error(exc)}") from None
        ctx = saga_context(self._settings, self._retry, self._calendar, self._clock.now())
        bound = log.bind(dossier_id=envelope.subject, correlation_id=envelope.correlationid)
        routed = route(envelope, self._sagas.get(envelope.subject), self._catalog, ctx)
        if routed.forget:
            del self._sagas[envelope.subject]  # a tombstone in the changelog
            bound.info("finished saga forgotten after its retention period")
            return
        if routed.state is None:
            bound.info("event changed nothing", type=envelope.type, reason=routed.unchanged)
            return
        audited = []
        for record in effects.records(routed.effects, routed.state, envelope, ctx.now, self._topics, self._audit_key):
            if record.topic == self._topics.audit:
                audited.append(record.value)
            else:
                await (self._send_plain if record.plain else self._send)(record.topic, record.key, record.value)
        if audited:  # one entry for what this event exchanged
            await self._audit.append(partition, envelope.subject.encode(), audited)
        effects.log_effects(routed.effects, bound)
        self._sagas[envelope.subject] = routed.state


def register(hub: Hub) -> None:
    orchestrator = Orchestrator(
        hub.sagas,
        hub.catalog,
        hub.calendar,
        hub.clock,
        hub.settings,
        hub.topics,
        hub.send,
        audit.register(hub),
        hub.send_json,
    )

    async def handle(event: EventT) -> None:
        await orchestrator.handle(event.value, event.message.partition)

    guarded_agent(hub, hub.topics.dossier_events, "orchestrate", "orchestrate", handle)
