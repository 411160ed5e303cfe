"""What a worker tells operators about itself: Prometheus metrics and health checks over HTTP.

``GET /metrics`` (Prometheus text format, the well-kept ``prometheus_client``), ``GET /healthz``
(the worker's event loop answers: liveness) and ``GET /readyz`` (partitions assigned and the saga
table recovered: readiness), on ``LIENTHONG_METRICS_HOST``:``LIENTHONG_METRICS_PORT``. The counters
are kept as things happen (events per agent, dead letters, agency calls); the gauges (dossiers in
flight, overdue, consumer lag, circuit state) are computed from the worker's own state when
scraped. No label carries a dossier code, a name or an ID: only agents, stages, agencies, actions,
procedures and statuses.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import mode
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from connectors.http_server import HttpServer
from contracts.status import DossierStatus

if TYPE_CHECKING:
    from circuitbreaker import CircuitBreaker

    from streams.app import Hub
    from streams.saga_state import SagaState

log = structlog.get_logger("lienthong.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CIRCUIT_STATES = {"closed": 0, "half_open": 1, "open": 2}
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# An exchange may wait for a person: a payment step's reply comes when the citizen pays (a day).
_EXCHANGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400)


class HubMetrics:
    """One worker's metrics, in a registry of its own (several hubs may share a process in tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "lienthong_events",
            "Events an agent handled, by outcome (handled, dead_lettered)",
            ["agent", "outcome"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "lienthong_dead_letters",
            "Messages dead-lettered, by stage and reason code",
            ["stage", "code"],
            registry=self.registry,
        )
        self.agency_calls = Histogram(
            "lienthong_agency_call_seconds",
            "Calls to bridged (REST, SOAP) agencies, by outcome (succeeded, rejected, failed, later)",
            ["agency", "action", "outcome"],
            buckets=_CALL_BUCKETS,
            registry=self.registry,
        )

        self.exchanges = Histogram(
            "lienthong_exchange_seconds",
            "Exchanges with every agency (Kafka-native, REST, SOAP), from the command sent to its reply "
            "applied, by outcome (succeeded, rejected, documents_requested, failed, no_reply)",
            ["agency", "action", "outcome"],
            buckets=_EXCHANGE_BUCKETS,
            registry=self.registry,
        )

    def watch(self, state: Callable[[], WorkerState]) -> None:
        """Compute the gauges from ``state()`` on every scrape."""
        self.registry.register(_StateCollector(state))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class WorkerState:
    """What the gauges show, read from the worker when scraped."""

    def __init__(
        self,
        sagas: Iterable[SagaState],
        lag: Mapping[tuple[str, int], int],
        circuits: Mapping[str, CircuitBreaker],
    ) -> None:
        self.in_flight: Tally[tuple[str, int]] = Tally()
        self.overdue: Tally[str] = Tally()
        for saga in sagas:
            if saga.done:
                continue
            self.in_flight[saga.procedure, int(saga.status)] += 1
            if saga.overdue:
                self.overdue[saga.procedure] += 1
        self.lag = lag
        self.circuits = {agency: CIRCUIT_STATES[breaker.state] for agency, breaker in circuits.items()}


class _StateCollector(Collector):
    def __init__(self, state: Callable[[], WorkerState]) -> None:
        self._state = state

    def collect(self) -> Iterable[Metric]:
        state = self._state()
        in_flight = GaugeMetricFamily(
            "lienthong_dossiers_in_flight",
            "Dossiers not yet final on this worker's partitions, by procedure and status",
            labels=["procedure", "status", "label"],
        )
        for (procedure, status), count in sorted(state.in_flight.items()):
            in_flight.add_metric([procedure, str(status), DossierStatus(status).label], count)
        overdue = GaugeMetricFamily(
            "lienthong_dossiers_overdue", "Dossiers past their due date, by procedure", labels=["procedure"]
        )
        for procedure, count in sorted(state.overdue.items()):
            overdue.add_metric([procedure], count)
        lag = GaugeMetricFamily(
            "lienthong_consumer_lag",
            "Records on an assigned partition not yet committed by this worker",
            labels=["topic", "partition"],
        )
        for (topic, partition), records in sorted(state.lag.items()):
            lag.add_metric([topic, str(partition)], records)
        circuit = GaugeMetricFamily(
            "lienthong_circuit_state", "A bridged agency's circuit: 0 closed, 1 half-open, 2 open", labels=["agency"]
        )
        for agency, value in sorted(state.circuits.items()):
            circuit.add_metric([agency], value)
        yield from (in_flight, overdue, lag, circuit)


def worker_state(hub: Hub, circuits: Mapping[str, CircuitBreaker]) -> WorkerState:
    """The gauges' inputs from a running worker: its sagas, its consumer's lag, the bridges' circuits."""
    consumer, changelog = hub.app.consumer, hub.sagas.changelog_topic.get_topic_name()
    lag = {}
    for tp in consumer.assignment():
        end = consumer.highwater(tp)  # None until the partition was first fetched
        if tp.topic == changelog or end is None:
            continue
        committed = cast(Any, consumer)._committed_offset.get(tp) or 0  # Faust has no public accessor
        lag[tp.topic, tp.partition] = max(end - committed, 0)
    return WorkerState((v for v in list(hub.sagas.values()) if v is not None), lag, circuits)


def metrics_app(metrics: HubMetrics, ready: Callable[[], str | None]) -> web.Application:
    """``/metrics``, ``/healthz`` and ``/readyz`` (``ready()`` returns why not, or None)."""

    async def scrape(_: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        why = ready()
        if why is None:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready", "reason": why}, status=503)

    app = web.Application()
    app.add_routes([web.get("/metrics", scrape), web.get("/healthz", healthz), web.get("/readyz", readyz)])
    return app


def readiness(hub: Hub) -> str | None:
    """Why the worker is not ready to process events (None: it is)."""
    if hub.app.rebalancing:
        return "rebalancing: partitions are being assigned"
    if not cast(Any, hub.app.tables).recovery.completed.is_set():
        return "recovering the saga table from its changelog"
    return None


class _MetricsServer(mode.Service):
    def __init__(self, hub: Hub, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._host, self._port = hub.settings.metrics_host, hub.settings.metrics_port
        self._server = HttpServer(metrics_app(hub.metrics, lambda: readiness(hub)), host=self._host)

    async def on_start(self) -> None:
        await self._server.start(self._port)
        log.info("metrics and health checks listening", url=f"{self._server.base_url}/metrics")

    async def on_stop(self) -> None:
        await self._server.stop()


def register(hub: Hub, circuits: Mapping[str, CircuitBreaker]) -> None:
    """Serve the worker's metrics and health checks while it runs."""
    hub.metrics.watch(lambda: worker_state(hub, circuits))
    hub.app.service(_MetricsServer(hub))  # type: ignore[arg-type]  # an instance, as in bridges
