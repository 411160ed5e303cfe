"""The worker's metrics and health checks, served by aiohttp's test client (no broker)."""

from __future__ import annotations

from types import SimpleNamespace

from aiohttp.test_utils import TestClient, TestServer
from circuitbreaker import CircuitBreaker
from prometheus_client.parser import text_string_to_metric_families

from streams.metrics import HubMetrics, WorkerState, metrics_app


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def open_circuit() -> CircuitBreaker:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=60, expected_exception=ValueError)
    try:
        breaker.call(lambda: (_ for _ in ()).throw(ValueError("down")))
    except ValueError:
        pass
    return breaker


async def test_metrics_count_what_happened_and_show_the_state_of_the_worker():
    metrics = HubMetrics()
    metrics.events.labels("orchestrate", "handled").inc(3)
    metrics.dead_letters.labels("ingest.justice", "signature").inc()
    metrics.agency_calls.labels("population", "verify_citizen", "succeeded").observe(0.02)
    sagas = [
        SimpleNamespace(procedure="birth_bundle", status=4, done=False, overdue=True),
        SimpleNamespace(procedure="birth_bundle", status=4, done=False, overdue=False),
        SimpleNamespace(procedure="birth_bundle", status=10, done=True, overdue=False),  # final: not in flight
    ]
    metrics.watch(
        lambda: WorkerState(
            sagas, {("ns.hub.dossier.events", 0): 7}, {"population": open_circuit(), "payment": CircuitBreaker()}
        )
    )
    async with TestClient(TestServer(metrics_app(metrics, lambda: None))) as client:
        response = await client.get("/metrics")
        text = await response.text()
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    seen = samples(text)
    assert seen["lienthong_events_total", (("agent", "orchestrate"), ("outcome", "handled"))] == 3
    assert seen["lienthong_dead_letters_total", (("code", "signature"), ("stage", "ingest.justice"))] == 1
    calls = (("action", "verify_citizen"), ("agency", "population"), ("outcome", "succeeded"))
    assert seen["lienthong_agency_call_seconds_count", calls] == 1
    in_flight = (("label", "Đang xử lý"), ("procedure", "birth_bundle"), ("status", "4"))
    assert seen["lienthong_dossiers_in_flight", in_flight] == 2
    assert (
        "lienthong_dossiers_in_flight",
        (("label", "Đã trả kết quả"), ("procedure", "birth_bundle"), ("status", "10")),
    ) not in seen
    assert seen["lienthong_dossiers_overdue", (("procedure", "birth_bundle"),)] == 1
    assert seen["lienthong_consumer_lag", (("partition", "0"), ("topic", "ns.hub.dossier.events"))] == 7
    assert seen["lienthong_circuit_state", (("agency", "population"),)] == 2
    assert seen["lienthong_circuit_state", (("agency", "payment"),)] == 0


async def test_health_checks_say_alive_and_why_not_ready():
    why: list[str | None] = ["recovering the saga table from its changelog"]
    async with TestClient(TestServer(metrics_app(HubMetrics(), lambda: why[0]))) as client:
        assert (await client.get("/healthz")).status == 200
        not_ready = await client.get("/readyz")
        assert not_ready.status == 503
        assert await not_ready.json() == {
            "status": "not ready",
            "reason": "recovering the saga table from its changelog",
        }
        why[0] = None
        assert (await client.get("/readyz")).status == 200
