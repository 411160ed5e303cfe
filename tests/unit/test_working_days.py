from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from contracts.working_days import WorkingCalendar, load_calendar

ICT = timezone(timedelta(hours=7))
CAL = WorkingCalendar(holidays=frozenset({date(2026, 4, 27), date(2026, 4, 30), date(2026, 5, 1)}))


def at(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ICT)


@pytest.mark.parametrize(
    ("received", "days", "due"),
    [
        (at(2026, 11, 23, 9), 1, date(2026, 11, 23)),  # Monday morning, same working day
        (at(2026, 11, 23, 9), 3, date(2026, 11, 25)),  # day 1 is the day received
        (at(2026, 11, 23, 15, 0), 1, date(2026, 11, 24)),  # at the cut-off counts from the next day
        (at(2026, 11, 27, 14, 59), 2, date(2026, 11, 30)),  # Friday before the cut-off, over the weekend
        (at(2026, 11, 28, 10), 1, date(2026, 11, 30)),  # Saturday counts from Monday
        (at(2026, 11, 23, 9), 0.5, date(2026, 11, 23)),  # fractions round up to a whole day
    ],
)
def test_due_dates(received, days, due):
    assert CAL.due_date(received, days) == due


def test_friday_after_cutoff_before_a_holiday_weekend():
    # Received 15:30 on Friday 24 April 2026; Monday 27 April is a holiday, so day 1 is Tuesday 28;
    # 30 April and 1 May are holidays too, so the third working day is Monday 4 May.
    received = at(2026, 4, 24, 15, 30)
    assert CAL.start_day(received) == date(2026, 4, 28)
    assert CAL.due_date(received, 3) == date(2026, 5, 4)


def test_overdue_only_after_the_due_day_ends_in_local_time():
    due = date(2026, 5, 4)
    assert not CAL.is_overdue(due, at(2026, 5, 4, 23, 59))
    assert CAL.is_overdue(due, at(2026, 5, 5, 0, 0))
    assert CAL.is_overdue(due, datetime(2026, 5, 4, 17, 30, tzinfo=UTC))  # 00:30 on 5 May in Vietnam


def test_utc_times_are_read_in_vietnam_time():
    # 08:30 UTC on Monday is 15:30 in Vietnam: after the cut-off.
    assert CAL.start_day(datetime(2026, 11, 23, 8, 30, tzinfo=UTC)) == date(2026, 11, 24)


def test_shipped_holiday_file_loads(tmp_path):
    cal = load_calendar()
    assert date(2026, 9, 2) in cal.holidays and cal.cutoff == time(15, 0)
    custom = tmp_path / "h.toml"
    custom.write_text('cutoff = "16:30"\n[years.2027]\ndates = [2027-01-01]\n')
    cal = load_calendar(custom)
    assert cal.holidays == frozenset({date(2027, 1, 1)}) and cal.cutoff == time(16, 30)
