"""Each agency's health, window by window, and the alerts operators act on.

An agent reads ``hub.monitor.exchanges`` (keyed by agency, so one agency's exchanges reach one
partition in order), observes each on the ``lienthong_exchange_seconds`` histogram, and keeps
each agency's current window in a changelog-backed table: calls, business refusals, technical
failures, missing replies and a duration histogram (the changed windows go to the changelog
together every ``WRITE_EVERY_S``, not once per exchange). When an exchange falls in a later
window, the previous one is closed: its :class:`~contracts.events.AgencyHealth` goes to
``hub.monitor.agencies``, and, if the agency was failing, an ``agency_failing`` alert to
``hub.monitor.alerts``. A timer closes the windows of agencies that went quiet. Closing is keyed
by (agency, window start), so a window closed again after a restart is recognisably the same
record.

Why not Faust's windowed tables: their window-close callback misses keys (``_del_old_keys`` looks
up windows under the wrong key, as its own comment says, and skips a window start already closed
on another partition), so a closed window could go unreported.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import faust
import structlog
from faust.types import EventT
from pydantic import BaseModel, ValidationError

from connectors.kafka_client import partition_for
from contracts.envelope import Envelope, describe_error
from contracts.errors import Unprocessable
from contracts.events import AgencyHealth, Alert, Exchange
from streams import delivery
from streams.deadletter import guarded_agent

if TYPE_CHECKING:
    from streams.app import Hub

log = structlog.get_logger("lienthong.agency_health")
BUCKETS_MS = (50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000)
"""Upper bounds of the duration histogram; a last bucket holds what is longer."""
FAILING_SHARE, FAILING_MIN_CALLS = 0.5, 3
WRITE_EVERY_S = 0.25
"""How often the changed windows go to the table's changelog (each exchange is acked after)."""


def window_start(at: datetime, size_s: float) -> datetime:
    """The start of the window of ``size_s`` seconds that ``at`` falls in (aligned on the epoch)."""
    seconds = at.timestamp()
    return datetime.fromtimestamp(seconds - seconds % size_s, UTC)


def add(window: Mapping[str, Any] | None, exchange: Exchange, size_s: float) -> tuple[dict[str, Any], dict | None]:
    """The agency's window after ``exchange``, and the earlier window it closed (or None)."""
    start = window_start(exchange.answered_at, size_s).isoformat()
    if window is not None and window["start"] > start:
        return dict(window), None  # a late exchange of a window already closed: not counted again
    closed = dict(window) if window is not None and window["start"] < start else None
    if window is None or closed is not None:
        window = {"start": start, "succeeded": 0, "refused": 0, "failed": 0, "no_reply": 0}
        window["buckets"] = [0] * (len(BUCKETS_MS) + 1)
        window["after_failing"] = closed is not None and is_failing(closed)
    updated = dict(window, buckets=list(window["buckets"]))
    kind = {"rejected": "refused", "documents_requested": "refused"}.get(exchange.outcome, exchange.outcome)
    updated[kind] += 1
    updated["buckets"][next((i for i, b in enumerate(BUCKETS_MS) if exchange.duration_ms <= b), len(BUCKETS_MS))] += 1
    return updated, closed


def is_failing(window: Mapping[str, Any]) -> bool:
    """At least half of at least ``FAILING_MIN_CALLS`` exchanges broke; or, right after a failing
    window, fewer exchanges than that and every one broke (a down agency's retries are sparse)."""
    calls, broken = sum(window["buckets"]), window["failed"] + window["no_reply"]
    if calls >= FAILING_MIN_CALLS:
        return broken >= FAILING_SHARE * calls
    return bool(window.get("after_failing")) and calls > 0 and broken == calls


def health(agency: str, window: Mapping[str, Any], size_s: float) -> AgencyHealth:
    start = datetime.fromisoformat(window["start"])
    calls = sum(window["buckets"])
    return AgencyHealth(
        agency=agency,
        window_start=start,
        window_end=start + timedelta(seconds=size_s),
        calls=calls,
        succeeded=window["succeeded"],
        refused=window["refused"],
        failed=window["failed"],
        no_reply=window["no_reply"],
        p50_ms=_percentile(window["buckets"], 0.5),
        p95_ms=_percentile(window["buckets"], 0.95),
        failing=is_failing(window),
    )


def failing_alert(report: AgencyHealth) -> Alert:
    broken = report.failed + report.no_reply
    return Alert(
        kind="agency_failing",
        subject=report.agency,
        agency=report.agency,
        message=f"{report.agency}: {broken} of {report.calls} exchanges failed or got no reply between "
        f"{report.window_start:%H:%M:%S} and {report.window_end:%H:%M:%S} UTC",
        action=f"Check {report.agency}'s system and the network to it; dossiers waiting on it are retried "
        "and resume by themselves once it answers (runbook: docs/operations.md, 'Alerts')",
        at=report.window_end,
    )


def _percentile(buckets: list[int], share: float) -> int:
    total = sum(buckets)
    if not total:
        return 0
    running = 0
    for bound, count in zip((*BUCKETS_MS, BUCKETS_MS[-1]), buckets, strict=True):
        running += count
        if running >= share * total:
            return bound
    return BUCKETS_MS[-1]


async def publish(hub: Hub, topic: str, key: str, record: BaseModel) -> None:
    await hub.send_json(topic, key.encode(), record.model_dump_json().encode())


def register(hub: Hub) -> None:
    size_s = hub.settings.health_window_s
    windows = delivery.DurableTable(
        hub.app,
        name="agency_windows",
        default=None,
        beacon=hub.app.tables.beacon,
        partitions=hub.settings.partitions,
        schema=faust.Schema(key_serializer="json", value_serializer="json"),
        help="Each agency's current health window",
    )
    hub.app.tables.add(windows)
    written = delivery.CoalescedChangelog(windows, WRITE_EVERY_S)  # a record per agency, not per exchange
    reported: dict[str, str] = {}  # agency -> start of the last window this worker reported

    async def close(agency: str, window: Mapping[str, Any]) -> None:
        if reported.get(agency, "") >= window["start"]:
            return
        report = health(agency, window, size_s)
        await publish(hub, hub.topics.agencies, agency, report)
        if report.failing:
            await publish(hub, hub.topics.alerts, agency, failing_alert(report))
            log.warning("agency failing", agency=agency, calls=report.calls, failed=report.failed + report.no_reply)
        reported[agency] = window["start"]

    async def handle(event: EventT) -> None:
        try:
            exchange = Envelope.from_bytes(event.value).payload(Exchange)
        except ValidationError as exc:
            raise Unprocessable(f"invalid exchange record: {describe_error(exc)}") from None
        hub.metrics.exchanges.labels(exchange.agency, exchange.action, exchange.outcome).observe(
            exchange.duration_ms / 1000
        )
        current, ended = add(windows.get(exchange.agency), exchange, size_s)
        if ended is not None:
            await close(exchange.agency, ended)
        written.put(exchange.agency, current, event.message.partition)

    guarded_agent(hub, hub.topics.exchanges, "agency-health", "agency_health", handle)

    async def close_quiet_windows() -> None:
        """Report the windows of agencies with no exchange since their window ended."""
        owned = hub.owned_partitions(hub.topics.exchanges)
        now = window_start(hub.clock.now(), size_s).isoformat()
        for agency, window in list(windows.items()):
            if window and window["start"] < now and partition_for(agency.encode(), hub.topics.partitions) in owned:
                await close(agency, window)

    hub.app.timer(interval=size_s / 2, on_leader=False, name="agency-health")(close_quiet_windows)
