"""Dates and times as Vietnamese systems write them: dd/mm/yyyy, 'dd/mm/yyyy HH:MM' Vietnam time.

ISO 8601 is accepted too. Errors are ``ValueError`` whose message says which forms are accepted,
so a caller can prefix the field name.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")


def parse_date(value: str) -> date:
    """dd/mm/yyyy or ISO yyyy-mm-dd."""
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a date in dd/mm/yyyy or yyyy-mm-dd form")


def parse_moment(value: str) -> datetime:
    """'dd/mm/yyyy HH:MM[:SS]' in Vietnam time, or ISO 8601 (naive values are Vietnam time)."""
    value = value.strip()
    for fmt in ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=VIETNAM_TIME)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a time in 'dd/mm/yyyy HH:MM' or ISO 8601 form") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=VIETNAM_TIME)
