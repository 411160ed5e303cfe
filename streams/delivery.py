"""Acked means durable: an input event is acked only once every record it caused is on the broker.

The hub's agents read ``noack()`` streams. While an event is handled, :meth:`streams.app.Hub.send`
adds the delivery of each record it writes to the event's :class:`Deliveries` (a context
variable, so concurrent agents never mix theirs), and so does the saga table's changelog write
(:class:`DurableTable`); the agent acks the event once they have all
been acknowledged by the broker, without holding up the next event. Faust commits an offset only
when every event before it was acked, so an event whose records were not all delivered is read
again after a restart rather than lost.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable
from contextvars import ContextVar
from typing import Any

import faust
import structlog

log = structlog.get_logger("lienthong.delivery")
_CURRENT: ContextVar[list[Awaitable[object]] | None] = ContextVar("lienthong_deliveries", default=None)
EXIT_UNDELIVERABLE = 70  # EX_SOFTWARE: the worker stops rather than ack what it could not write


def track(delivery: Awaitable[object]) -> None:
    """Count ``delivery`` towards the event being handled (no event: nothing to ack, not tracked)."""
    pending = _CURRENT.get()
    if pending is not None:
        pending.append(delivery)


class Deliveries:
    """Collects the deliveries of the records one event causes (``with Deliveries() as d:``)."""

    def __init__(self) -> None:
        self.pending: list[Awaitable[object]] = []

    def __enter__(self) -> Deliveries:
        self._token = _CURRENT.set(self.pending)
        return self

    def __exit__(self, *_: object) -> None:
        _CURRENT.reset(self._token)

    async def all_delivered(self, timeout_s: float) -> None:
        """Wait until the broker acknowledged every record; raise the first failure, or TimeoutError
        if the producer has not settled them all within ``timeout_s`` (it is wedged)."""
        await asyncio.wait_for(asyncio.gather(*self.pending), timeout_s)


class DurableTable(faust.Table):
    """A Faust table whose changelog writes count towards the event being handled: the event is
    acked only once the table's new value is on the broker, like every other record it caused."""

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        sent = super().send_changelog(*args, **kwargs)
        track(sent)
        return sent


def stop_undelivered(what: str, exc: BaseException, **context: object) -> None:
    """Stop the worker at once, saying why: a record it owed the broker could not be written, and
    acking its cause would lose it. The next worker reads the cause again."""
    log.critical(
        "stopping: a record could not be written and its cause will not be acked",
        what=what,
        error=f"{type(exc).__name__}: {exc}",
        **context,
    )
    sys.stderr.flush()
    os._exit(EXIT_UNDELIVERABLE)
