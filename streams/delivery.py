"""Acked means durable: an input event is acked only once every record it caused is on the broker.

The hub's agents read ``noack()`` streams. While an event is handled, :meth:`streams.app.Hub.send`
adds the delivery of each record it writes to the event's :class:`Deliveries` (a context
variable, so concurrent agents never mix theirs), and so does the saga table's changelog write
(:class:`DurableTable`); the agent hands the event to its :class:`InOrderAcks`, which acks it once
they have all been acknowledged by the broker, without holding up the next event. Faust commits an
offset only when every event before it was acked, so an event whose records were not all delivered
is read again after a restart rather than lost.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import sys
from collections.abc import Awaitable
from contextvars import ContextVar
from functools import partial
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


class InOrderAcks:
    """Acks one stream's events in the order they were handled, each once the broker has every
    record it caused. One task per agent awaits the deliveries in turn (most are done by then, so
    an event costs a queue entry, not a task of its own); a watchdog stops the worker if one is
    still pending after ``settle_s`` (every send fails within the producer's request timeout, so
    the producer is wedged) or failed: acking its cause would lose it."""

    def __init__(self, stream: faust.types.StreamT, settle_s: float) -> None:
        self._stream, self._settle_s = stream, settle_s
        self._queue: asyncio.Queue[tuple[faust.types.EventT, list[Awaitable[object]], dict[str, object]]]
        self._queue = asyncio.Queue()
        self._waiting: tuple[float, dict[str, object]] | None = None

    def ack_when_delivered(self, event: faust.types.EventT, caused: Deliveries, where: dict[str, object]) -> None:
        self._queue.put_nowait((event, caused.pending, where))

    async def run(self) -> None:
        """Ack the events handed in, in order, as their deliveries complete (until cancelled)."""
        loop = asyncio.get_running_loop()
        while True:
            event, pending, where = await self._queue.get()
            for sent in pending:
                self._waiting = (loop.time(), where)
                try:
                    await sent
                except Exception as exc:
                    stop_undelivered("a record the event caused", exc, **where)
            self._waiting = None
            try:
                await self._stream.ack(event)
            except Exception as exc:  # acks would stop here unseen: start again from the last commit
                stop_undelivered("the ack of a handled event", exc, **where)

    async def watch(self) -> None:
        """Stop the worker if a delivery stays pending longer than ``settle_s`` (until cancelled)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._settle_s / 4)
            waiting = self._waiting
            if waiting is not None and loop.time() - waiting[0] > self._settle_s:
                stop_undelivered(
                    "a record the event caused", TimeoutError("the producer never settled it"), **waiting[1]
                )


class DurableTable(faust.Table):
    """A Faust table whose changelog writes count towards the event being handled: the event is
    acked only once the table's new value is on the broker, like every other record it caused."""

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        sent = super().send_changelog(*args, **kwargs)
        track(sent)
        return sent


class CoalescedChangelog:
    """Writes a table's changed keys to its changelog together, at most every ``every_s``, instead
    of once per change: a burst of events that change a few keys costs one record per key, not one
    per event. :meth:`put` changes the worker's copy at once, and the event being handled counts
    the next write towards its ack (:func:`track`): it is still acked only once its change is on
    the broker, and a failed write stops the worker like any other undelivered record."""

    def __init__(self, table: faust.Table, every_s: float) -> None:
        self._table, self._every_s = table, every_s
        self._changed: dict[Any, tuple[int, Any]] = {}
        self._written: asyncio.Future[None] | None = None

    def put(self, key: Any, value: Any, partition: int) -> None:
        """Set ``key`` to ``value`` (on changelog ``partition``, the event's) with the next write."""
        self._table.data[key] = value  # the worker's copy, without a changelog record of its own
        self._changed[key] = (partition, value)
        if self._written is None:
            loop = asyncio.get_running_loop()
            self._written = loop.create_future()
            loop.call_later(self._every_s, self._write, self._written, context=contextvars.Context())  # no event's
        track(self._written)

    def _write(self, written: asyncio.Future[None]) -> None:
        changed, self._changed, self._written = self._changed, {}, None
        sends = [self._table.send_changelog(p, key, value) for key, (p, value) in changed.items()]
        asyncio.gather(*sends).add_done_callback(partial(_settle, written))


def _settle(written: asyncio.Future[None], sends: asyncio.Future[list[object]]) -> None:
    """Settle ``written`` as the changelog writes behind it did."""
    if sends.cancelled():
        written.set_exception(RuntimeError("the changelog writes were cancelled"))
    elif (exc := sends.exception()) is not None:
        written.set_exception(exc)
    else:
        written.set_result(None)


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
