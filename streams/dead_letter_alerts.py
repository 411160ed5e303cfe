"""``dead_letters`` alerts: the dead-letter topic is growing.

Each worker counts what it dead-letters (``lienthong_dead_letters_total``, by stage and reason
code). When a health window (``LIENTHONG_HEALTH_WINDOW_S``) ends, a timer compares the counts with
those at the window's start and raises one alert per stage that grew, keyed by the stage, saying
how many, with which reason codes, and the commands that list and replay them. Every worker
reports its own dead letters; a worker that restarts starts counting again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from contracts.events import Alert
from streams.agency_health import publish, window_start

if TYPE_CHECKING:
    from prometheus_client import Counter as PromCounter

    from streams.app import Hub

ATTACK_CODES = frozenset({"signature", "stale", "not_entitled"})
"""Reason codes that may mean someone is forging or replaying messages."""


def counts(metric: PromCounter) -> Counter[tuple[str, str]]:
    """The counter's current values by (stage, code)."""
    return Counter(
        {
            (sample.labels["stage"], sample.labels["code"]): int(sample.value)
            for family in metric.collect()
            for sample in family.samples
            if sample.name.endswith("_total")
        }
    )


def alerts(grown: Counter[tuple[str, str]], start: datetime, end: datetime) -> Iterable[Alert]:
    """One alert per stage in ``grown`` (dead letters by (stage, code) in the window)."""
    stages = sorted({stage for stage, _ in grown})
    for stage in stages:
        codes = {code: n for (s, code), n in sorted(grown.items()) if s == stage and n > 0}
        total = sum(codes.values())
        worry = (
            " Codes signature, stale and not_entitled may mean forged or replayed messages: tell the sender."
            if ATTACK_CODES & codes.keys()
            else ""
        )
        yield Alert(
            kind="dead_letters",
            subject=stage,
            message=f"{total} message{'s' if total != 1 else ''} dead-lettered at stage {stage} between "
            f"{start:%H:%M:%S} and {end:%H:%M:%S} UTC ({', '.join(f'{code} ×{n}' for code, n in codes.items())})",
            action=f"`lienthong dlq list --stage {stage}` shows each with its reason; fix the cause (the sender, "
            f"a registry entry, a bug), then `lienthong dlq replay --stage {stage}`.{worry} "
            "(runbook: docs/operations.md, 'Alerts')",
            at=end,
        )


class DeadLetterWatch:
    """The dead letters ``metric`` counted since the current window began."""

    def __init__(self, metric: PromCounter, size_s: float, now: datetime) -> None:
        self._metric, self._size_s = metric, size_s
        self._window, self._since, self._counts = window_start(now, size_s), now, counts(metric)

    def ended(self, now: datetime) -> list[Alert]:
        """Once a window has ended, the alerts for what was dead-lettered since the last report;
        none while the window runs. They span the two counts actually compared, so an alert never
        says "between" times that leave out a dead letter it counts (the count is taken when the
        timer runs, a little after the window's end)."""
        start = window_start(now, self._size_s)
        if start <= self._window:
            return []
        current = counts(self._metric)
        grown = list(alerts(current - self._counts, self._since, now))
        self._window, self._since, self._counts = start, now, current
        return grown


def register(hub: Hub) -> None:
    watch = DeadLetterWatch(hub.metrics.dead_letters, hub.settings.health_window_s, hub.clock.now())

    async def report_growth() -> None:
        for alert in watch.ended(hub.clock.now()):
            await publish(hub, hub.topics.alerts, alert.subject, alert)

    hub.app.timer(interval=hub.settings.health_window_s / 2, on_leader=False, name="dead-letter-alerts")(report_growth)
