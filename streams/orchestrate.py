"""Orchestrate: one saga per dossier, its state in a changelog-backed Faust table.

One agent reads every agency outbox and ``hub.dossier.events``. An outbox record is admitted by
:mod:`streams.ingest` (signature, contract, normalisation) and applied at once when it sits where
its saga does: on the partition its dossier code hashes to (where it lands when keyed by that
code), which this worker owns on ``hub.dossier.events`` too (and so the saga table's partition).
Any other admitted record (keyed otherwise, on an outbox with another partition count, or read
during a rebalance by a worker that no longer owns its saga) goes on to ``hub.dossier.events``,
keyed by its dossier code, and is applied from there by its saga's owner, as are the sweeper's
ticks and the callbacks' events. One agent, so a dossier's events are applied one at a time.

Applying an event: :mod:`streams.router` picks and runs the saga transition, the records
:mod:`streams.effects` makes of its effects are written, then the new state is stored. Audit
records go to :class:`streams.audit.AuditLog`, one entry per event, on the partition number of the
event (one writer per chain).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import datetime
from typing import TYPE_CHECKING

import structlog
from faust.types import EventT
from pydantic import ValidationError

from connectors.kafka_client import partition_for
from contracts.agencies import AGENCIES
from contracts.catalog import Procedure
from contracts.envelope import Envelope, derived_id, describe_error
from contracts.errors import FilingConflict, InvalidFiling, Unprocessable
from contracts.events import FILING_REFUSED, DossierFiled, FilingRefused
from contracts.redact import redact
from contracts.retry import RetryPolicy
from contracts.topics import Send, Topics
from contracts.working_days import WorkingCalendar
from streams import audit, effects, ingest, saga
from streams.clock import Clock
from streams.deadletter import guarded_agent
from streams.effects import SOURCE
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
        """Apply the event in ``raw`` (a record of ``hub.dossier.events``); see :meth:`apply`."""
        try:
            envelope = Envelope.from_bytes(raw)
        except ValidationError as exc:
            raise Unprocessable(f"invalid envelope: {describe_error(exc)}") from None
        await self.apply(envelope, partition)

    async def apply(self, envelope: Envelope, partition: int) -> None:
        """Route the event, write the records its effects make, then store the new state.

        Raises Unprocessable for what no saga can apply (the agent dead-letters it)."""
        ctx = saga_context(self._settings, self._retry, self._calendar, self._clock.now())
        bound = log.bind(dossier_id=envelope.subject, correlation_id=envelope.correlationid)
        try:
            routed = route(envelope, self._sagas.get(envelope.subject), self._catalog, ctx)
        except FilingConflict as conflict:  # the filer is told, then the filing is dead-lettered
            await self._refuse_filing(envelope, conflict)
            raise
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

    async def _refuse_filing(self, envelope: Envelope, conflict: FilingConflict) -> None:
        if conflict.filer not in AGENCIES:
            return  # not from an agency's outbox: no inbox to tell
        filed = envelope.payload(DossierFiled)
        notice = FilingRefused(dossier_id=envelope.subject, procedure=filed.procedure, reason=str(conflict))
        await self._tell_filer(conflict.filer, envelope.caused(source=SOURCE, type=FILING_REFUSED, data=notice))

    async def refuse_invalid_filing(self, filer: str, refused: InvalidFiling, record_id: str) -> None:
        """Tell ``filer`` its filing was not taken and why (ingest refused its content); the notice's
        id derives from ``record_id``, so a record refused again after a crash gives the same one."""
        notice = FilingRefused(dossier_id=refused.dossier_id, procedure=refused.procedure, reason=redact(str(refused)))
        out = Envelope(
            id=derived_id("filing-refused", record_id),
            source=SOURCE,
            type=FILING_REFUSED,
            subject=refused.dossier_id,
            correlationid=refused.correlation_id or derived_id("correlation", record_id),
            data=notice.model_dump(mode="json"),
        )
        await self._tell_filer(filer, out)

    async def _tell_filer(self, filer: str, notice: Envelope) -> None:
        await self._send(self._topics.inbox(filer), notice.subject.encode(), notice.to_bytes())
        reason = notice.payload(FilingRefused).reason
        log.warning("filing refused", dossier_id=notice.subject, filer=filer, reason=redact(reason))


class _Stage:
    """Where the agent's current event is, for its dead letter: ``ingest.<agency>`` until the record
    is admitted, then ``orchestrate``."""

    name = "orchestrate"

    def __call__(self) -> str:
        return self.name


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
    events, partitions = hub.topics.dossier_events, hub.settings.partitions
    outboxes = {hub.topics.outbox(code): code for code in AGENCIES}
    stage = _Stage()

    async def handle(event: EventT) -> None:
        message = event.message
        agency = outboxes.get(message.topic)
        if agency is None:  # hub.dossier.events
            stage.name = "orchestrate"
            await orchestrator.handle(event.value, message.partition)
            return
        stage.name = f"ingest.{agency}"
        try:
            envelope = ingest.admit(hub, agency, event)
        except InvalidFiling as refused:  # the filer is told, then the filing is dead-lettered
            record_id = f"{message.topic}/{message.partition}/{message.offset}"
            await orchestrator.refuse_invalid_filing(agency, refused, record_id)
            raise
        key, p = envelope.subject.encode(), message.partition
        if p != partition_for(key, partitions) or not hub.owns(events, p) or not hub.co_partitioned(message.topic):
            await hub.send(events, key, envelope.to_bytes())  # applied from there, by its owner
            return
        stage.name = "orchestrate"
        await orchestrator.apply(envelope, p)

    guarded_agent(hub, [events, *outboxes], "orchestrate", stage, handle)
