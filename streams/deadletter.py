"""The dead-letter topic: the original bytes of a message the hub could not process, with why.

Following Kafka Connect's convention, the record's key and value are exactly those received and
the reason travels in headers (``lienthong.dlq.*``), so a fixed message can be replayed to its
source topic byte for byte (see docs/operations.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

import structlog
from faust.streams import Stream
from faust.types import EventT, StreamT

from contracts.errors import Refused
from contracts.redact import redact
from contracts.topics import DLQ_HEADER_PREFIX
from streams.delivery import Deliveries, InOrderAcks, stop_undelivered

if TYPE_CHECKING:
    from streams.app import Hub

log = structlog.get_logger("lienthong.deadletter")


def dlq_headers(
    topic: str, partition: int, offset: int, stage: str, reason: str, at: datetime, code: str = Refused.code
) -> list[tuple[str, bytes]]:
    """Where the record came from, the stage that gave up on it, why (a reason code and the
    redacted text) and when."""
    fields = {
        "code": code,
        "reason": redact(reason),
        "stage": stage,
        "topic": topic,
        "partition": str(partition),
        "offset": str(offset),
        "at": at.isoformat(),
    }
    return [(DLQ_HEADER_PREFIX + k, v.encode()) for k, v in fields.items()]


async def dead_letter(hub: Hub, event: EventT, stage: str, reason: str, code: str) -> None:
    """Send ``event``'s original record (value and headers, signature included) to the
    dead-letter topic with ``reason``."""
    message = event.message
    headers = message.headers or []
    items = headers.items() if isinstance(headers, Mapping) else headers
    original = [(k, v) for k, v in items if isinstance(v, bytes) and not k.startswith(DLQ_HEADER_PREFIX)]
    where = (message.topic, message.partition, message.offset)
    await hub.send(
        hub.topics.deadletter,
        message.key,
        message.value,
        original + dlq_headers(*where, stage, reason, datetime.now(UTC), code),
    )
    hub.metrics.dead_letters.labels(stage, code).inc()
    log.warning(
        "message dead-lettered",
        stage=stage,
        code=code,
        reason=redact(reason),
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
    )


def guarded_agent(
    hub: Hub,
    topics: str | Sequence[str],
    name: str,
    stage: str | Callable[[], str],
    handle: Callable[[EventT], Awaitable[None]],
    *,
    concurrency: int = 1,
) -> None:
    """Register an agent that handles each event of ``topics`` and never loses one to an error:
    a :class:`~streams.errors.Refused` is dead-lettered with its message, any other exception as
    an internal error, both under ``stage`` (or what ``stage()`` says when the event failed, for an
    agent whose events pass through more than one stage). The event is acked only once every record
    it caused is on the broker (:mod:`streams.delivery`); if that, or the dead letter, cannot be
    written, the worker stops without acking it."""

    # Every send fails within the producer's request timeout; a delivery still pending after twice
    # that means the producer is wedged: stop rather than wait forever without acking.
    settled_s = 2 * hub.settings.producer_request_timeout_s + 5
    events = hub.metrics.events
    stage_now = stage if callable(stage) else lambda: stage

    async def agent(stream: StreamT) -> None:
        acking = cast(Stream, stream).noack()  # acked once what the event caused is on the broker
        acks = InOrderAcks(acking, settled_s)
        acker, watchdog = asyncio.ensure_future(acks.run()), asyncio.ensure_future(acks.watch())
        try:
            await handle_each(acking, acks)
        finally:
            acker.cancel()
            watchdog.cancel()

    async def handle_each(acking: StreamT, acks: InOrderAcks) -> None:
        async for event in acking.events():
            where = {"agent": name, "partition": event.message.partition, "offset": event.message.offset}
            with Deliveries() as caused:
                outcome = "dead_lettered"
                try:
                    try:
                        await handle(event)
                        outcome = "handled"
                    except Refused as exc:
                        await dead_letter(hub, event, stage_now(), str(exc), exc.code)
                    except Exception as exc:
                        log.exception("agent failed on a message", agent=name)
                        reason = f"internal error: {type(exc).__name__}: {exc}"
                        await dead_letter(hub, event, stage_now(), reason, "internal")
                    events.labels(name, outcome).inc()
                except Exception as exc:  # not even the dead letter could be written
                    stop_undelivered("dead letter", exc, **where)
            acks.ack_when_delivered(event, caused, where)

    names = [topics] if isinstance(topics, str) else list(topics)
    hub.app.agent(hub.topic(*names), name=name, concurrency=concurrency)(agent)
