"""The dead-letter topic: the original bytes of a message the hub could not process, with why.

Following Kafka Connect's convention, the record's key and value are exactly those received and
the reason travels in headers (``lienthong.dlq.*``), so a fixed message can be replayed to its
source topic byte for byte (see docs/operations.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from faust.types import EventT

from contracts import topics
from streams.app import raw_topic
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
