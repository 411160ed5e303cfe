"""`lienthong dashboard`'s server on the shared hub's streams: its summary and live events match
what was filed, and a dossier's timeline is found by its code."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from connectors.http_server import HttpServer
from contracts.status import DossierStatus as S
from infra.dashboard import Board, Dashboard
from infra.harness.net import free_port
from infra.pytest_plugin import Hub
from infra.sandbox.samples import birth_filing, unknown_mother_id


@asynccontextmanager
async def running_dashboard(hub: Hub) -> AsyncIterator[tuple[Board, HttpServer]]:
    """The dashboard's board, following the shared hub's streams, and its server on a free port."""
    dashboard = Dashboard(hub.operator, hub.topics, hub.worker.settings.group_id, tick_s=0.2, lag_interval_s=1)
    await dashboard.start(free_port())
    try:
        yield dashboard.board, dashboard.server
    finally:
        await dashboard.stop()


async def file_done_and_refused(hub: Hub, rng: random.Random) -> tuple[dict, dict]:
    """Two birth dossiers that end 10 (result returned) and 3 (not accepted); their filings."""
    done = birth_filing(hub.sandbox.population, rng, hub.seq())
    unknown = unknown_mother_id(hub.sandbox.population, rng)
    refused = birth_filing(hub.sandbox.population, rng, hub.seq(), mother_id=unknown)
    for filing in (done, refused):
        await hub.sandbox.justice.file_birth(filing)
    assert await hub.wait_final(done["ma_ho_so"]) is S.RESULT_RETURNED
    assert await hub.wait_final(refused["ma_ho_so"]) is S.NOT_ACCEPTED
    return done, refused


async def test_the_dashboard_counts_the_dossiers_filed_and_shows_a_timeline(hub: Hub, rng: random.Random):
    async with running_dashboard(hub) as (board, server):
        filings = await file_done_and_refused(hub, rng)
        done, refused = (filing["ma_ho_so"] for filing in filings)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            deadline = time.monotonic() + 30
            while not {done, refused} <= set(board.dossiers):
                assert time.monotonic() < deadline, "the dashboard never saw the dossiers"
                await asyncio.sleep(0.2)
            summary = (await http.get("/api/summary")).json()
            finished = {(r["procedure"], r["status"]): r["count"] for r in summary["finished"]}
            assert finished[("birth_bundle", 10)] >= 1 and finished[("birth_bundle", 3)] >= 1
            assert summary["dossiers"] == len(board.dossiers) >= 2
            # the hub group's backlog, read as the operator, on the outbox the filings came from
            filed_on = hub.topics.outbox("justice")
            while filed_on not in {topic for topic, _, _ in board.lag}:
                assert time.monotonic() < deadline, "the dashboard never read the hub's consumer lag"
                await asyncio.sleep(0.2)
            lag = {row["topic"]: row for row in (await http.get("/api/summary")).json()["lag"]}
            outbox = lag[filed_on]
            assert outbox["processed"] > 0 and outbox["behind"] == outbox["written"] - outbox["processed"] >= 0

            timeline = (await http.get(f"/api/dossiers/{done}")).json()["timeline"]
            assert [t["status"] for t in timeline if t["step"] is None] == [1, 2, 4, 9, 10]
            assert (await http.get("/api/dossiers/not-a-code")).status_code == 400

            async with http.stream("GET", "/events") as events:
                line = await anext(events.aiter_lines())
            assert json.loads(line.removeprefix("data: ")) == board.summary()

            page = (await http.get("/")).text
            assert "Hồ sơ đang xử lý" in page and "(dossiers in flight)" in page
