"""Fixes to Faust that nothing-lost depends on, applied once by :func:`streams.app.build_hub`.

**A message skipped at a rebalance must not be acked.** Faust's stream iterator skips a message
fetched in an older consumer generation, or while flow control is paused for a rebalance, and
*acks* it "so the lag does not grow" (``faust/streams.py``, ``Stream._py_aiter``). The consumer
then commits past it. If the same worker keeps the partition, it resumes from that commit and the
message is never handed to an agent: the chaos run lost two filings this way during the first
rebalance of two workers (faust-streaming issues #216, #221 and #606 describe the family).

The fix: :meth:`Consumer.ack` counts only messages a stream actually handed on (``tracked``, set
just before a message is yielded). A skipped message stays unacked, so the commit stops before it
and it is fetched again from the committed offset: at-least-once, as Faust intends.

**After a rebalance every partition an agent reads starts again from its committed offset, or
from the log's start when nothing was committed yet.** A rebalance also empties each stream's
queue (Faust's channels clear on resume): what was fetched but not yet handed on is fetched again
only because Faust then seeks every partition to its committed offset. aiokafka's
``seek_to_committed`` seeks only where an offset above 0 was committed; on a partition with no
commit yet the position stayed where the emptied queue's messages had been fetched, and they were
never read again. The chaos run lost a filing made during the first rebalance of two workers
this way.

**What arrives after that seek is kept.** Faust empties the streams' queues when it resumes flow,
which it does *after* the seek: a message fetched from the sought position in between (the seek
waits on the consumer thread, so the fetcher and the drain loop run meanwhile) was dropped from the
queue, and the next fetch started past it. The queues are now emptied when the seek starts, and
the resume that follows it keeps what arrived since. The chaos run lost a filing and an injected
record written while a killed worker restarted this way (commit stuck below them, the next record
handled).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import Message
from mode.utils.queues import FlowControlEvent

_original_ack = Consumer.ack
_original_perform_seek = Consumer.perform_seek
_original_resume = FlowControlEvent.resume


def _ack_only_handed_on(self: Consumer, message: Message) -> bool:
    if not message.tracked:
        return False  # skipped at a rebalance: it will be fetched again from the committed offset
    return _original_ack(self, message)


async def _seek_to_committed_or_start(self: AIOKafkaConsumerThread) -> Mapping[Any, int]:
    consumer = self._ensure_consumer()
    committed: Mapping[Any, int] = await self.call_thread(consumer.seek_to_committed)
    # aiokafka seeks only where something above 0 was committed; elsewhere the position stays
    # wherever the previous generation's fetches left it, past what was dropped at the rebalance.
    fresh = [tp for tp, offset in committed.items() if not offset and self.app.topics.acks_enabled_for(tp.topic)]
    if fresh:
        await self.call_thread(consumer.seek_to_beginning, *fresh)
    return committed


async def _perform_seek_emptying_first(self: Consumer) -> None:
    flow = self.app.flow_control
    flow.clear()  # fetched before the seek: read again from where it puts the positions
    await _original_perform_seek(self)
    flow._lienthong_sought = True  # type: ignore[attr-defined]


def _resume_keeping_what_came_after_the_seek(self: FlowControlEvent) -> None:
    if not getattr(self, "_lienthong_sought", False):
        _original_resume(self)
        return
    self._lienthong_sought = False  # type: ignore[attr-defined]
    queues, self._queues = self._queues, type(self._queues)()
    try:
        _original_resume(self)  # resumes, emptying no queue
    finally:
        self._queues = queues


def apply() -> None:
    """Install the fixes (idempotent)."""
    Consumer.ack = _ack_only_handed_on  # type: ignore[method-assign]
    AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed_or_start  # type: ignore[method-assign]
    Consumer.perform_seek = _perform_seek_emptying_first  # type: ignore[method-assign]
    FlowControlEvent.resume = _resume_keeping_what_came_after_the_seek  # type: ignore[method-assign]
