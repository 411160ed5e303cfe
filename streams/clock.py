"""The hub's clock. Deadlines are judged against it, so tests and drills can move it.

With ``LIENTHONG_CLOCK_OFFSET_FILE`` set, the number of seconds in that file is added to the
system time (re-read at most twice a second); without it the clock is the system clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


class Clock:
    def __init__(self, offset_file: Path | None = None) -> None:
        self._offset_file = offset_file
        self._offset_s = 0.0
        self._read_at = float("-inf")

    def _offset(self) -> float:
        if self._offset_file is None:
            return 0.0
        if time.monotonic() - self._read_at > 0.5:
            self._read_at = time.monotonic()
            try:
                self._offset_s = float(self._offset_file.read_text().strip() or 0)
            except (FileNotFoundError, ValueError):
                self._offset_s = 0.0
        return self._offset_s

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset())
