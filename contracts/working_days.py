"""Legal deadlines in working days (ngày làm việc).

A dossier received before the cut-off (15:00 local time) on a working day counts that day as
day 1; one received at or after the cut-off, or on a weekend or holiday, counts from the next
working day. A deadline of N working days falls due at the end of the N-th working day.

Which days are working days comes from the well-kept ``holidays`` package (python-holidays,
``country_holidays("VN")``): Tết and the Hùng Kings' day by the lunar calendar, observed days,
and the days the government swaps (a weekday off, a Saturday worked in lieu), as its notices
announce them, for any year. A small override file (``contracts/calendar.toml``, or
``LIENTHONG_CALENDAR_FILE``) holds the cut-off and what the government announces after the
package's release: extra days off and weekend days worked.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from importlib import resources
from pathlib import Path

import holidays
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.envelope import describe_error
from contracts.errors import SettingsError

ICT = timezone(timedelta(hours=7), "ICT")


@cache
def _public_holidays() -> holidays.HolidayBase:
    """Vietnam's public holidays and swapped working days; each year is computed when first asked."""
    return holidays.country_holidays("VN")


@dataclass(frozen=True)
class WorkingCalendar:
    days_off: frozenset[date] = field(default_factory=frozenset)  # announced after the package's release
    weekend_working_days: frozenset[date] = field(default_factory=frozenset)  # likewise: worked in lieu
    cutoff: time = time(15, 0)
    tz: timezone = ICT

    def is_working_day(self, day: date) -> bool:
        if day in self.weekend_working_days:
            return True
        return day not in self.days_off and _public_holidays().is_working_day(day)

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

    def exceptions(self, year: int) -> list[tuple[date, str]]:
        """The year's weekdays off and weekend days worked, each with why (for operators)."""
        official = _public_holidays()
        out = []
        for n in range((date(year + 1, 1, 1) - date(year, 1, 1)).days):
            day = date(year, 1, 1) + timedelta(days=n)
            working, weekend = self.is_working_day(day), day.weekday() >= 5
            if working == weekend:
                if day in self.days_off or day in self.weekend_working_days:
                    why = "calendar file"
                else:
                    why = official.get(day) or "worked in lieu of a day off"
                out.append((day, f"{'working day' if working else 'day off'}: {why}"))
        return out


class CalendarOverrides(BaseModel):
    """The override file: the cut-off, the time zone, and corrections to the public holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cutoff: time = Field(
        time(15, 0), description="dossiers received at or after this local time count from the next day"
    )
    timezone_offset_hours: float = Field(7, ge=-12, le=14)
    days_off: frozenset[date] = frozenset()
    weekend_working_days: frozenset[date] = frozenset()


def load_calendar(path: Path | None = None) -> WorkingCalendar:
    """The working calendar with an override file (the shipped ``contracts/calendar.toml`` by
    default); a broken file raises SettingsError naming the field."""
    name = str(path) if path else "contracts/calendar.toml"
    try:
        text = (
            path.read_text("utf-8")
            if path
            else resources.files("contracts").joinpath("calendar.toml").read_text("utf-8")
        )
        raw = CalendarOverrides.model_validate(tomllib.loads(text))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"calendar file {name}: {exc}") from None
    except ValidationError as exc:
        raise SettingsError(f"calendar file {name}: {describe_error(exc)}") from None
    if weekdays := sorted(d for d in raw.weekend_working_days if d.weekday() < 5):
        raise SettingsError(f"calendar file {name}: weekend_working_days: {weekdays[0]} is not a Saturday or Sunday")
    return WorkingCalendar(
        days_off=raw.days_off,
        weekend_working_days=raw.weekend_working_days,
        cutoff=raw.cutoff,
        tz=timezone(timedelta(hours=raw.timezone_offset_hours)),
    )


@cache
def default_calendar() -> WorkingCalendar:
    return load_calendar()
