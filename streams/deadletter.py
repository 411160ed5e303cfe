"""The dead-letter topic: the original bytes of a message the hub could not process, with why.

Following Kafka Connect's convention, the record's key and value are exactly those received and
the reason travels in headers (``lienthong.dlq.*``), so a fixed message can be replayed to its
source topic byte for byte (see docs/operations.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from collections.abc import Awaitable, Callable

from faust.types import EventT, StreamT

from contracts import topics
from streams.app import app, raw_topic
from streams.logs import mask

log = structlog.get_logger("lienthong.deadletter")

HEADER_PREFIX = "lienthong.dlq."


async def dead_letter(event: EventT, stage: str, reason: str) -> None:
    """Send ``event``'s original record to the dead-letter topic with ``reason``."""
    message = event.message
    headers = {
        "reason": reason,
        "stage": stage,
        "topic": message.topic,
        "partition": str(message.partition),
        "offset": str(message.offset),
        "at": datetime.now(UTC).isoformat(),
    }
    await raw_topic(topics.deadletter()).send(
        key=message.key,
        value=message.value,
        headers=[(HEADER_PREFIX + k, v.encode()) for k, v in headers.items()],
    )
    log.warning("message dead-lettered", stage=stage, reason=mask(reason), source_topic=message.topic,
                partition=message.partition, offset=message.offset)


def guarded_agent(topic: str, name: str, stage: str, handle: Callable[[EventT], Awaitable[None]],
                  *, refusal: type[Exception] | None = None, concurrency: int = 1) -> None:
    """Register an agent that handles each event of ``topic`` and never loses one to an error:
    a ``refusal`` is dead-lettered with its message, any other exception as an internal error."""

    async def agent(stream: StreamT) -> None:
        async for event in stream.events():
            try:
                await handle(event)
            except Exception as exc:
                if refusal is not None and isinstance(exc, refusal):
                    await dead_letter(event, stage, str(exc))
                    continue
                log.exception("agent failed on a message", agent=name)
                await dead_letter(event, stage, f"internal error: {type(exc).__name__}: {exc}")

    app.agent(raw_topic(topic), name=name, concurrency=concurrency)(agent)
