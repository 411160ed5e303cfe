"""Legal deadlines in working days (ngày làm việc).

A dossier received before the cut-off (15:00 local time) on a working day counts that day as
day 1; one received at or after the cut-off, or on a weekend or holiday, counts from the next
working day. A deadline of N working days falls due at the end of the N-th working day.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class WorkingCalendar:
    holidays: frozenset[date] = field(default_factory=frozenset)
    cutoff: time = time(15, 0)
    tz: timezone = timezone(timedelta(hours=7), "ICT")

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def start_day(self, received_at: datetime) -> date:
        """The working day a dossier's clock starts on (day 1)."""
        local = received_at.astimezone(self.tz)
        if self.is_working_day(local.date()) and local.time() < self.cutoff:
            return local.date()
        return self.next_working_day(local.date())

    def due_date(self, received_at: datetime, working_days: float) -> date:
        """The last day of a deadline of ``working_days`` (fractions round up to a whole day)."""
        day = self.start_day(received_at)
        for _ in range(max(1, math.ceil(working_days)) - 1):
            day = self.next_working_day(day)
        return day

    def is_overdue(self, due: date, now: datetime) -> bool:
        """True once the due day has ended in local time."""
        return self.local_date(now) > due


def load_calendar(path: Path | None = None) -> WorkingCalendar:
    """Read a holiday file (the shipped ``contracts/holidays.toml`` by default)."""
    text = (
        path.read_text("utf-8") if path else resources.files("contracts").joinpath("holidays.toml").read_text("utf-8")
    )
    raw = tomllib.loads(text)
    hours, minutes = (int(part) for part in raw.get("cutoff", "15:00").split(":"))
    holidays = frozenset(d for year in raw.get("years", {}).values() for d in year.get("dates", []))
    tz = timezone(timedelta(hours=raw.get("timezone_offset_hours", 7)))
    return WorkingCalendar(holidays=holidays, cutoff=time(hours, minutes), tz=tz)


@cache
def default_calendar() -> WorkingCalendar:
    return load_calendar()
