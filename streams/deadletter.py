"""The dead-letter topic: the original bytes of a message the hub could not process, with why.

Following Kafka Connect's convention, the record's key and value are exactly those received and
the reason travels in headers (``lienthong.dlq.*``), so a fixed message can be replayed to its
source topic byte for byte (see docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from faust.types import EventT, StreamT

from contracts.errors import Refused
from contracts.redact import redact
from contracts.topics import DLQ_HEADER_PREFIX

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
    hub: Hub, topic: str, name: str, stage: str, handle: Callable[[EventT], Awaitable[None]], *, concurrency: int = 1
) -> None:
    """Register an agent that handles each event of ``topic`` and never loses one to an error:
    a :class:`~streams.errors.Refused` is dead-lettered with its message, any other exception as
    an internal error."""

    async def agent(stream: StreamT) -> None:
        async for event in stream.events():
            try:
                await handle(event)
            except Refused as exc:
                await dead_letter(hub, event, stage, str(exc), exc.code)
            except Exception as exc:
                log.exception("agent failed on a message", agent=name)
                await dead_letter(hub, event, stage, f"internal error: {type(exc).__name__}: {exc}", "internal")

    hub.app.agent(hub.topic(topic), name=name, concurrency=concurrency)(agent)
