"""``lienthong dashboard``: a live operator page fed by the monitoring streams.

It reads (as the operator principal) ``hub.monitor.transitions``, ``hub.monitor.agencies``,
``hub.monitor.alerts`` and ``hub.deadletter`` from their beginning and keeps only what the page
shows (:class:`Board`): per dossier its procedure, status and overdue flag, counts by procedure
and status, each agency's latest health window, the latest alerts and dead letters by reason;
:class:`Dashboard` also reads the hub consumer group's backlog every few seconds. A hundred
thousand dossiers cost about 14 MiB, and its summary lists only the longest overdue of them, so it
stays about 11 kB (docs/benchmarks.md, "The dashboard at scale"). A dossier's timeline is read from
Kafka when it is asked for (:mod:`infra.timeline`), like ``lienthong status``.

The page (``infra/dashboard.html``, Vietnamese labels with English) follows ``GET /events``, a
server-sent-events stream of the board's summary whenever it changed; ``GET /api/summary`` is the
same summary once and ``GET /api/dossiers/<code>`` a dossier's timeline. SSE is a few lines over
aiohttp's streaming response, so no library is added for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import sys
from collections import Counter, deque
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ValidationError

from connectors.http_server import HttpServer
from connectors.kafka_client import KafkaClient
from contracts.errors import IdentifierError
from contracts.events import AgencyHealth, Alert, Transition, Transitions
from contracts.identifiers import check_dossier_code
from contracts.redact import mask_identifiers
from contracts.status import DossierStatus
from contracts.topics import Topics, dlq_fields
from infra.lag import LagReader
from infra.timeline import read_timeline
from infra.topics import partitions_of, reader

log = structlog.get_logger("lienthong.dashboard")
PAGE = Path(__file__).with_name("dashboard.html")
ALERTS_KEPT = 50
OVERDUE_SHOWN = 100


class MonitorRecord(BaseModel):
    """A record of ``hub.monitor.transitions`` as the board reads it: an :class:`Envelope` of which
    only ``data`` is validated (in one pass, half the CPU of the envelope and then its payload)."""

    data: Transitions


class Board:
    """What the dashboard shows, updated record by record; ``version`` counts the changes."""

    def __init__(self) -> None:
        self.dossiers: dict[str, tuple[str, DossierStatus]] = {}  # code -> (procedure, status)
        self.in_flight: Counter[tuple[str, DossierStatus]] = Counter()
        self.finished: Counter[tuple[str, DossierStatus]] = Counter()
        self.overdue: dict[str, str] = {}  # code -> the due date it passed, while not final
        self.agencies: dict[str, AgencyHealth] = {}
        self.alerts: deque[Alert] = deque(maxlen=ALERTS_KEPT)
        # step_stuck alerts by agency: how many, and the latest (a down agency raises one per step,
        # which would push its agency_failing alert off the list)
        self.stuck: dict[str, tuple[Alert, int]] = {}
        self.dead_letters: Counter[tuple[str, str]] = Counter()  # (stage, code)
        self.lag: list[tuple[str, int, int]] = []  # (topic, written, processed) the hub's group reads
        self.version = 0
        self._rendered: tuple[int, str] = (-1, "")  # (version, summary JSON) last rendered
        self._pairs: dict[tuple[str, DossierStatus], tuple[str, DossierStatus]] = {}  # shared by the dossiers

    def on_transition(self, t: Transition) -> None:
        if t.step is not None:
            return
        if t.state == "overdue":
            if t.dossier_id in self.dossiers and not self.dossiers[t.dossier_id][1].is_final:
                self.overdue[t.dossier_id] = sys.intern((t.reason or "").split(";")[0].removeprefix("due "))
                self.version += 1
            return
        if t.status is None:
            return
        before, now = self.dossiers.get(t.dossier_id), (t.procedure, t.status)
        if before == now:
            return  # a record written again after a restart
        now = self._pairs.setdefault(now, now)
        if before is not None and not before[1].is_final:
            self.in_flight[before] -= 1
            if self.in_flight[before] <= 0:
                del self.in_flight[before]
        if now[1].is_final:
            self.finished[now] += 1
            self.overdue.pop(t.dossier_id, None)
        else:
            self.in_flight[now] += 1
        self.dossiers[t.dossier_id] = now
        self.version += 1

    def on_health(self, health: AgencyHealth) -> None:
        current = self.agencies.get(health.agency)
        if current is None or health.window_start >= current.window_start:
            self.agencies[health.agency] = health
            self.version += 1

    def on_alert(self, alert: Alert) -> None:
        if alert.kind == "step_stuck" and alert.agency is not None:
            _, count = self.stuck.get(alert.agency, (alert, 0))
            self.stuck[alert.agency] = (alert, count + 1)
        else:
            self.alerts.appendleft(alert)
        self.version += 1

    def _alerts(self) -> list[dict[str, Any]]:
        """The latest alerts, newest first, step_stuck ones as one row per agency with their count."""
        rows = [(a, 1) for a in self.alerts] + list(self.stuck.values())
        rows.sort(key=lambda row: row[0].at, reverse=True)
        shown = []
        for alert, count in rows[:ALERTS_KEPT]:
            if count > 1:
                message = f"{count} steps sent to {alert.agency} got no reply in time; the latest: {alert.message}"
                alert = alert.model_copy(update={"message": message})
            shown.append(alert.model_dump(mode="json") | {"count": count})
        return shown

    def on_dead_letter(self, headers: dict[str, str]) -> None:
        self.dead_letters[headers.get("stage", "?"), headers.get("code", "?")] += 1
        self.version += 1

    def on_lag(self, rows: list[tuple[str, int, int]]) -> None:
        """The hub's consumer group on each topic it has processed from: written, processed."""
        rows = [row for row in rows if row[2] > 0]
        if rows != self.lag:
            self.lag = rows
            self.version += 1

    def summary_json(self) -> str:
        """:meth:`summary` as JSON, rendered once per change however many pages show it."""
        if self._rendered[0] != self.version:
            self._rendered = (self.version, json.dumps(self.summary(), ensure_ascii=False))
        return self._rendered[1]

    def summary(self) -> dict[str, Any]:
        """Everything the page shows, as JSON-ready data: the overdue dossiers are counted, and
        only the ``OVERDUE_SHOWN`` oldest (by due date) are listed."""

        def status(procedure: str, status: DossierStatus, count: int) -> dict[str, Any]:
            return {"procedure": procedure, "status": int(status), "label": status.label, "count": count}

        oldest = heapq.nsmallest(OVERDUE_SHOWN, self.overdue.items(), key=lambda item: (item[1], item[0]))
        return {
            "dossiers": len(self.dossiers),
            "in_flight": [status(p, s, n) for (p, s), n in sorted(self.in_flight.items()) if n > 0],
            "finished": [status(p, s, n) for (p, s), n in sorted(self.finished.items())],
            "overdue_count": len(self.overdue),
            "overdue": [{"dossier": code, "procedure": self.dossiers[code][0], "due": due} for code, due in oldest],
            "agencies": [h.model_dump(mode="json") for _, h in sorted(self.agencies.items())],
            "alerts": self._alerts(),
            "dead_letters": [
                {"stage": stage, "code": code, "count": n, "replay": f"lienthong dlq replay --stage {stage}"}
                for (stage, code), n in sorted(self.dead_letters.items())
            ],
            "lag": [
                {"topic": topic, "written": written, "processed": done, "behind": max(written - done, 0)}
                for topic, written, done in self.lag
            ],
        }


async def follow(client: KafkaClient, topics: Topics, board: Board) -> None:
    """Feed ``board`` from the monitoring streams, from their beginning, until cancelled."""
    consumer = reader(client)
    await consumer.start()
    try:
        names = [topics.monitor, topics.agencies, topics.alerts, topics.deadletter]
        tps = [tp for name in names for tp in await partitions_of(consumer, name)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while True:
            for tp, records in (await consumer.getmany(timeout_ms=500, max_records=5000)).items():
                for record in records:
                    try:
                        apply_record(board, topics, tp.topic, record.value, record.headers)
                    except (ValidationError, ValueError) as exc:
                        log.warning("unreadable monitoring record skipped", topic=tp.topic, error=str(exc)[:200])
    finally:
        await consumer.stop()


def apply_record(board: Board, topics: Topics, topic: str, value: bytes, headers: Any) -> None:
    """Feed ``board`` one record of ``topic``."""
    if topic == topics.monitor:
        for transition in MonitorRecord.model_validate_json(value).data.transitions:
            board.on_transition(transition)
    elif topic == topics.agencies:
        board.on_health(AgencyHealth.model_validate_json(value))
    elif topic == topics.alerts:
        board.on_alert(Alert.model_validate_json(value))
    else:
        board.on_dead_letter(dlq_fields(headers))


def dashboard_app(board: Board, client: KafkaClient, topics: Topics, tick_s: float = 1.0) -> web.Application:
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE.read_text("utf-8"), content_type="text/html", charset="utf-8")

    async def summary(_: web.Request) -> web.Response:
        return web.Response(text=board.summary_json(), content_type="application/json")

    async def dossier(request: web.Request) -> web.Response:
        code = request.match_info["code"]
        try:
            check_dossier_code(code)
        except IdentifierError as exc:
            return web.json_response({"error": f"dossier code: {exc}"}, status=400)
        timeline = await read_timeline(client, topics, code)
        steps = [
            {
                "at": t.at.isoformat(),
                "step": t.step,
                "agency": t.agency,
                "state": t.state,
                "status": int(t.status) if t.status is not None else None,
                "duration_ms": t.duration_ms,
                "reason": mask_identifiers(t.reason) if t.reason else None,
            }
            for t in timeline
        ]
        return web.json_response({"dossier": code, "timeline": steps}, status=200 if steps else 404)

    async def events(request: web.Request) -> web.StreamResponse:
        stream = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await stream.prepare(request)
        shown = -1
        # until the page goes, or the server stops (it waits for open handlers before it stops)
        while not closing.is_set() and request.transport is not None and not request.transport.is_closing():
            if board.version != shown:
                shown = board.version
                await stream.write(f"data: {board.summary_json()}\n\n".encode())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), tick_s)
        return stream

    closing = asyncio.Event()

    async def on_shutdown(_: web.Application) -> None:
        closing.set()

    app = web.Application()
    app.on_shutdown.append(on_shutdown)
    app.add_routes(
        [
            web.get("/", page),
            web.get("/api/summary", summary),
            web.get("/api/dossiers/{code}", dossier),
            web.get("/events", events),
        ]
    )
    return app


async def watch_lag(client: KafkaClient, topics: Topics, group: str, board: Board, interval_s: float) -> None:
    """Feed ``board`` the hub group's backlog every ``interval_s``, until cancelled, over clients
    kept open between reads; after a failed read they are opened anew."""
    while True:
        try:
            async with LagReader(client, group, topics) as reader:
                while True:
                    board.on_lag(await reader.report())
                    await asyncio.sleep(interval_s)
        except (KafkaError, TimeoutError) as exc:
            log.warning("consumer lag not read", group=group, error=str(exc))
        await asyncio.sleep(interval_s)


class Dashboard:
    """The board following the monitoring streams (and, given the hub's consumer ``group``, its
    backlog every ``lag_interval_s``) and the page serving it, in this process."""

    def __init__(
        self,
        client: KafkaClient,
        topics: Topics,
        group: str | None = None,
        host: str = "127.0.0.1",
        tick_s: float = 1.0,
        lag_interval_s: float = 5.0,
    ) -> None:
        self.client, self.topics, self.group, self.lag_interval_s = client, topics, group, lag_interval_s
        self.board = Board()
        self.server = HttpServer(dashboard_app(self.board, client, topics, tick_s), host=host)
        self.reader: asyncio.Task[None] | None = None
        self._lag: asyncio.Task[None] | None = None

    async def start(self, port: int = 0) -> None:
        """Follow the streams and serve the page on ``port`` (0: a free one)."""
        self.reader = asyncio.create_task(follow(self.client, self.topics, self.board), name="dashboard-reader")
        if self.group is not None:
            lag = watch_lag(self.client, self.topics, self.group, self.board, self.lag_interval_s)
            self._lag = asyncio.create_task(lag, name="dashboard-lag")
        await self.server.start(port)

    @property
    def url(self) -> str:
        return f"{self.server.base_url}/"

    async def stop(self) -> BaseException | None:
        """Stop serving and reading; returns what stopped the reader early, if something did."""
        await self.server.stop()
        if self._lag is not None:
            self._lag.cancel()
            await asyncio.wait([self._lag])
        if self.reader is None:
            return None
        self.reader.cancel()
        await asyncio.wait([self.reader])
        return None if self.reader.cancelled() else self.reader.exception()


async def serve(client: KafkaClient, topics: Topics, group: str, host: str, port: int) -> None:
    """Run the dashboard (with the backlog of the hub's consumer ``group``) until interrupted."""
    dashboard = Dashboard(client, topics, group, host)
    await dashboard.start(port)
    print(f"dashboard: {dashboard.url} (Ctrl-C to stop)", flush=True)
    try:
        assert dashboard.reader is not None
        await dashboard.reader
    finally:
        await dashboard.stop()
