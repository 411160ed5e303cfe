"""A running worker's metrics and health checks, scraped over HTTP as Prometheus would, and its
record of every exchange with an agency on hub.monitor.exchanges."""

from __future__ import annotations

import asyncio
import random
import time

import httpx

from contracts.envelope import Envelope
from contracts.events import Exchange
from contracts.status import DossierStatus as S
from infra.pytest_plugin import Hub, read_topic
from infra.sandbox.samples import birth_filing, dossier_code


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())


async def test_a_worker_counts_events_calls_and_dead_letters_and_says_it_is_ready(hub: Hub, rng: random.Random):
    settings = hub.worker.settings
    base = f"http://{settings.metrics_host}:{settings.metrics_port}"
    async with httpx.AsyncClient() as http:
        deadline = time.monotonic() + 60
        while True:  # the worker may still be starting when this test runs first
            try:
                ready = await http.get(f"{base}/readyz")
            except httpx.TransportError:
                ready = None
            if ready is not None and ready.status_code == 200:
                break
            assert time.monotonic() < deadline, f"never ready: {ready.json() if ready else 'no answer'}"
            await asyncio.sleep(0.5)
        assert ready.json() == {"status": "ready"}
        assert (await http.get(f"{base}/healthz")).json() == {"status": "ok"}
    before = await hub.metrics()

    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    await hub.sandbox.justice.file_birth(filing)
    assert await hub.wait_final(filing["ma_ho_so"]) is S.RESULT_RETURNED
    await hub.sandbox.justice.send_outbox(dossier_code(hub.seq()), b"not json at all")

    now = await hub.metrics()

    def grew(name: str, **pairs: str) -> float:
        key = (name, labels(**pairs))
        return now.get(key, 0) - before.get(key, 0)

    # the justice system is Kafka-native: its exchanges are timed from the monitoring stream
    registered = dict(agency="justice", action="register_birth", outcome="succeeded")
    deadline = time.monotonic() + 30
    while (
        grew("lienthong_dead_letters_total", stage="ingest.justice", code="rejected") < 1
        or grew("lienthong_exchange_seconds_count", **registered) < 1
    ):
        assert time.monotonic() < deadline, "the dead letter or the justice exchange was never counted"
        await asyncio.sleep(0.5)
        now = await hub.metrics()
    assert grew("lienthong_events_total", agent="orchestrate", outcome="handled") >= 7  # a filing and 6+ replies
    assert grew("lienthong_events_total", agent="orchestrate", outcome="dead_lettered") == 1
    calls = dict(agency="population", action="verify_citizen", outcome="succeeded")
    assert grew("lienthong_agency_call_seconds_count", **calls) >= 1
    assert now[("lienthong_circuit_state", labels(agency="population"))] == 0
    assert any(name == "lienthong_consumer_lag" for name, _ in now)

    dossier = filing["ma_ho_so"]
    exchanges = [
        Envelope.from_bytes(r.value).payload(Exchange)
        for r in await read_topic(hub.operator, hub.topics.exchanges, "population")
    ]
    mine = sorted((e.step, e.outcome, e.attempt) for e in exchanges if e.dossier_id == dossier)
    assert mine == [
        ("assign_personal_id", "succeeded", 1),
        ("register_residence", "succeeded", 1),
        ("verify_father", "succeeded", 1),
        ("verify_mother", "succeeded", 1),
    ]
