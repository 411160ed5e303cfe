"""The one place that assembles a hub worker: :func:`build_hub`.

From one :class:`~streams.settings.HubSettings` it builds the Faust app, the saga table, the
clock, the working calendar, the procedure catalog and the agency connectors, then registers every
agent, timer and service explicitly. Nothing here runs at import.

Agents take raw bytes and decode them themselves, so a message that fails to decode is
dead-lettered with its original bytes instead of being dropped by Faust's decode-error path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import faust
from faust.serializers import codecs
from faust.types import TP

from connectors.base import Connector
from contracts.catalog import Procedure, builtin_catalog, load_catalog
from contracts.envelope import envelope_headers
from contracts.record_signing import Signer, TrustStore
from contracts.topics import Topics
from contracts.working_days import WorkingCalendar, load_calendar
from streams import delivery
from streams.clock import Clock
from streams.metrics import HubMetrics
from streams.saga_state import SagaState
from streams.settings import HubSettings

ConnectorFactory = Callable[[], Connector]


@dataclass
class Hub:
    """Everything a worker's agents share, built once by :func:`build_hub`."""

    settings: HubSettings
    app: faust.App
    topics: Topics
    catalog: Mapping[str, Procedure]
    calendar: WorkingCalendar
    clock: Clock
    sagas: faust.types.TableT
    signer: Signer
    trust: TrustStore
    metrics: HubMetrics
    _raw: dict[str, faust.types.TopicT] = field(default_factory=dict)
    _actives: frozenset[TP] | None = None
    _co_partitioned: dict[str, bool] = field(default_factory=dict)

    def topic(self, *names: str) -> faust.types.TopicT:
        """A topic (or, for an agent reading several, topics) of undecoded bytes (keys are dossier
        codes, values JSON)."""
        key = ",".join(names)
        if key not in self._raw:
            self._raw[key] = self.app.topic(
                *names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
            )
        return self._raw[key]

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        """Write one record. Without ``headers`` the value is an envelope: it carries the CloudEvents
        Kafka binding's headers (:func:`~contracts.envelope.envelope_headers`) and the hub's
        signature; dead letters pass their own (the original record's, signature included).

        The bytes go straight to Faust's producer (the transactional one under exactly-once), not
        through a Faust topic: its serialisers, sensors and pending-message bookkeeping cost a
        third of a send and do nothing for bytes already encoded."""
        delivery.track(await self._produce(topic, key, value, headers))

    async def send_acked(self, topic: str, key: bytes, value: bytes) -> None:
        """:meth:`send` an envelope and wait until the broker acknowledged it: for a write outside
        any event, answering a client that must not hear "accepted" before the record is durable
        (it would not send it again). Raises what the producer raised if it could not be written."""
        await (await self._produce(topic, key, value, None))

    async def _produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]] | None
    ) -> Awaitable[object]:
        if headers is None:
            headers = envelope_headers() + self.signer.headers(value or b"")
        producer = await self.app.maybe_start_producer()
        return await producer.send(topic, key, value, None, None, headers)

    async def send_json(self, topic: str, key: bytes, value: bytes) -> None:
        """Write one signed JSON record that is not an envelope (about an agency, not a dossier)."""
        await self.send(topic, key, value, [("content-type", b"application/json"), *self.signer.headers(value)])

    def owns(self, topic: str, partition: int) -> bool:
        """Whether this worker is the active owner of ``partition`` of ``topic`` (cached until the
        next rebalance: this is asked for every event)."""
        if self._actives is None:
            self._actives = frozenset(self.app.assignor.assigned_actives())
        return TP(topic, partition) in self._actives

    def co_partitioned(self, topic: str) -> bool:
        """Whether ``topic`` has the partition count of the hub's tables, so its partition p holds
        the keys of their partition p (cached until the next rebalance, which a change of count
        causes). A topic the worker has no metadata for is not."""
        if topic not in self._co_partitioned:
            count = self.app.consumer.topic_partitions(topic)
            self._co_partitioned[topic] = count == self.settings.partitions
        return self._co_partitioned[topic]

    async def _forget_assignment(self, *_: object, **__: object) -> None:
        self._actives = None
        self._co_partitioned.clear()

    def owned_partitions(self, topic: str) -> set[int]:
        """The partitions of ``topic`` this worker is assigned (a table may hold others' keys too)."""
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}


class SagaCodec(codecs.Codec):
    """The saga table's values: :class:`SagaState` objects in memory (states are frozen, so the
    table can hold the one a transition built, with no copy and no validation on the next read),
    their JSON in the changelog."""

    def _dumps(self, state: SagaState) -> bytes:
        return state.model_dump_json().encode()

    def _loads(self, data: bytes) -> SagaState:
        return SagaState.model_validate_json(data)


def load_procedures(settings: HubSettings) -> dict[str, Procedure]:
    """Shipped procedures, plus (overriding) those in ``settings.procedures_dir``."""
    procedures = dict(builtin_catalog())
    if settings.procedures_dir is not None:
        procedures.update(load_catalog(settings.procedures_dir))
    return procedures


def faust_app(settings: HubSettings) -> faust.App:
    return faust.App(
        settings.group_id,
        **settings.kafka_client().faust(),  # broker URL and credentials
        datadir=str(settings.data_dir),
        autodiscover=False,
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_disable_leader=True,
        table_standby_replicas=settings.standby_replicas,
        consumer_auto_offset_reset="earliest",
        processing_guarantee=settings.processing_guarantee,
        broker_max_poll_records=settings.max_poll_records,
        producer_linger_ms=settings.producer_linger_ms,
        # Faust waits up to 20 minutes by default for a send (including topic metadata); a stalled
        # send should fail soon and visibly, so the message is dead-lettered or the step re-sent.
        producer_request_timeout=settings.producer_request_timeout_s,
        producer_acks=-1,
        broker_commit_every=settings.commit_every,
        broker_commit_interval=settings.commit_interval_s,
        # How soon the group notices a worker that died: its partitions move only after this.
        broker_session_timeout=settings.session_timeout_s,
    )


def build_hub(
    settings: HubSettings,
    *,
    clock: Clock | None = None,
    calendar: WorkingCalendar | None = None,
    catalog: Mapping[str, Procedure] | None = None,
    connectors: Mapping[str, ConnectorFactory] | None = None,
) -> Hub:
    """Assemble a worker: app, table, clock, calendar, catalog, connectors, and every agent."""
    from streams import (
        agency_health,
        bridges,
        callbacks,
        dead_letter_alerts,
        faust_fixes,
        fetch_batching,
        metrics,
        orchestrate,
        sweeper,
    )

    faust_fixes.apply()
    app = faust_app(settings)
    fetch_batching.apply(app, settings.fetch_min_bytes, settings.fetch_max_wait_ms)
    codec = SagaCodec()
    sagas = delivery.DurableTable(
        app,
        name="sagas",
        default=None,
        beacon=app.tables.beacon,
        partitions=settings.partitions,
        schema=faust.Schema(key_serializer="json", value_serializer=codec),
        help="Saga state per dossier code",
    )
    # Faust writes a table's changelog with its value_serializer (from the value type, JSON by
    # default), not its schema's; the changelog topic, made on first use, reads with the same.
    sagas.value_serializer = codec
    app.tables.add(sagas)
    hub = Hub(
        settings=settings,
        app=app,
        topics=settings.topics,
        catalog=catalog if catalog is not None else load_procedures(settings),
        calendar=calendar if calendar is not None else load_calendar(settings.calendar_file),
        clock=clock if clock is not None else Clock(settings.clock_offset_file),
        sagas=sagas,
        signer=Signer.load(settings.keyring, settings.signing_key_id),
        trust=TrustStore.load(settings.keyring),
        metrics=HubMetrics(),
    )
    for changed in (app.on_partitions_revoked, app.on_partitions_assigned):
        changed.connect(hub._forget_assignment)
    orchestrate.register(hub)
    sweeper.register(hub)
    agency_health.register(hub)
    dead_letter_alerts.register(hub)
    circuits = bridges.register(hub, connectors if connectors is not None else bridges.default_connectors(settings))
    callbacks.register(hub)
    metrics.register(hub, circuits)
    return hub
