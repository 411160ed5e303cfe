from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from contracts.errors import SettingsError
from contracts.working_days import load_calendar
from infra.cli import parser

ICT = timezone(timedelta(hours=7))
CAL = load_calendar()


def at(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ICT)


@pytest.mark.parametrize(
    ("received", "days", "due"),
    [
        (at(2026, 11, 30, 9), 1, date(2026, 11, 30)),  # Monday morning, same working day
        (at(2026, 11, 30, 9), 3, date(2026, 12, 2)),  # day 1 is the day received
        (at(2026, 11, 30, 15, 0), 1, date(2026, 12, 1)),  # at the cut-off counts from the next day
        (at(2026, 11, 27, 14, 59), 2, date(2026, 11, 30)),  # Friday before the cut-off, over the weekend
        (at(2026, 11, 28, 10), 1, date(2026, 11, 30)),  # Saturday counts from Monday
        (at(2026, 11, 30, 9), 0.5, date(2026, 11, 30)),  # fractions round up to a whole day
        (at(2026, 11, 23, 9), 3, date(2026, 11, 26)),  # Tuesday 24 November is Vietnam Cultural Day
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
    assert CAL.start_day(datetime(2026, 11, 30, 8, 30, tzinfo=UTC)) == date(2026, 12, 1)


# The official calendars as python-holidays records them from the government's notices (its
# source cites each one): every weekday off and every weekend day worked in lieu.
OFFICIAL = {
    2025: (
        {
            date(2025, 1, 1),  # Tết Dương lịch
            *(date(2025, 1, d) for d in range(27, 32)),  # Tết Nguyên đán, 27-31 January
            date(2025, 4, 7),  # Giỗ Tổ Hùng Vương
            date(2025, 4, 30),  # Reunification Day
            date(2025, 5, 1),  # Labour Day
            date(2025, 5, 2),  # swapped with Saturday 26 April
            date(2025, 9, 1),  # National Day
            date(2025, 9, 2),
        },
        {date(2025, 4, 26)},
    ),
    2026: (
        {
            date(2026, 1, 1),
            *(date(2026, 2, d) for d in range(16, 21)),  # Tết Nguyên đán, 16-20 February
            date(2026, 4, 27),  # Giỗ Tổ Hùng Vương falls on Sunday 26 April: observed on Monday
            date(2026, 4, 30),
            date(2026, 5, 1),
            date(2026, 8, 31),  # swapped with Saturday 22 August
            date(2026, 9, 1),
            date(2026, 9, 2),
            date(2026, 11, 24),  # Vietnam Cultural Day, a holiday from 2026 (Resolution 80-NQ/TW)
        },
        {date(2026, 8, 22)},
    ),
}


@pytest.mark.parametrize("year", sorted(OFFICIAL))
def test_the_official_calendar_of_the_year(year):
    weekdays_off, weekends_worked = OFFICIAL[year]
    days = [date(year, 1, 1) + timedelta(days=n) for n in range(365)]
    assert {d for d in days if d.weekday() < 5 and not CAL.is_working_day(d)} == weekdays_off
    assert {d for d in days if d.weekday() >= 5 and CAL.is_working_day(d)} == weekends_worked


def test_a_year_in_no_file_is_computed_tet_from_the_lunar_calendar():
    # Tết Đinh Mùi falls on Saturday 6 February 2027: the holidays run from the 29th of the last
    # lunar month to the fifth day, so Thursday 4 to Wednesday 10 February are not working days.
    assert [d.day for d in (date(2027, 2, n) for n in range(1, 13)) if not CAL.is_working_day(d)] == [
        4,
        5,
        6,
        7,
        8,
        9,
        10,
    ]
    received = at(2027, 2, 3, 16)  # after the cut-off on the last working day before Tết
    assert CAL.start_day(received) == date(2027, 2, 11) and CAL.due_date(received, 2) == date(2027, 2, 12)


def test_the_override_file_adds_what_the_government_announced_late(tmp_path):
    custom = tmp_path / "calendar.toml"
    custom.write_text(
        'cutoff = "16:30"\ndays_off = [2027-02-03]\nweekend_working_days = [2027-01-30]\n', encoding="utf-8"
    )
    cal = load_calendar(custom)
    assert cal.cutoff == time(16, 30)
    assert not cal.is_working_day(date(2027, 2, 3)) and cal.is_working_day(date(2027, 1, 30))
    assert CAL.is_working_day(date(2027, 2, 3)) and not CAL.is_working_day(date(2027, 1, 30))


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('cutoff = "3pm"', "cutoff"),
        ('days_off = ["soon"]', "days_off"),
        ("days_off = [2027-02-30]", "Invalid date or datetime .at line 1"),
        ("weekend_working_days = [2027-02-03]", "weekend_working_days: 2027-02-03 is not a Saturday or Sunday"),
        ("holidays = []", "holidays"),
    ],
)
def test_a_broken_override_file_is_refused_naming_the_field(tmp_path, text, named):
    custom = tmp_path / "calendar.toml"
    custom.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=named):
        load_calendar(custom)


def test_the_calendar_command_lists_a_years_exceptions(capsys, tmp_path):
    custom = tmp_path / "calendar.toml"
    custom.write_text("weekend_working_days = [2026-01-03]\n", encoding="utf-8")
    args = parser().parse_args(["calendar", "2026", "--file", str(custom)])  # main() would set up logging
    assert args.func(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2026: weekdays off and weekend days worked (cut-off 15:00)"
    assert "  2026-01-03 Sat  working day: calendar file" in lines
    assert "  2026-08-22 Sat  working day: worked in lieu of a day off" in lines
    assert "  2026-11-24 Tue  day off: Vietnam Cultural Day" in lines
