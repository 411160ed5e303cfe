"""A fix to Faust that nothing-lost depends on, applied once by :func:`streams.app.build_hub`.

**A message skipped at a rebalance must not be acked.** Faust's stream iterator skips a message
fetched in an older consumer generation, or while flow control is paused for a rebalance, and
*acks* it "so the lag does not grow" (``faust/streams.py``, ``Stream._py_aiter``). The consumer
then commits past it. If the same worker keeps the partition, it resumes from that commit and the
message is never handed to an agent: the chaos run lost two filings this way during the first
rebalance of two workers (faust-streaming issues #216, #221 and #606 describe the family).

The fix: :meth:`Consumer.ack` counts only messages a stream actually handed on (``tracked``, set
just before a message is yielded). A skipped message stays unacked, so the commit stops before it
and it is fetched again from the committed offset: at-least-once, as Faust intends.
"""

from __future__ import annotations

from faust.transport.consumer import Consumer
from faust.types import Message

_original_ack = Consumer.ack


def _ack_only_handed_on(self: Consumer, message: Message) -> bool:
    if not message.tracked:
        return False  # skipped at a rebalance: it will be fetched again from the committed offset
    return _original_ack(self, message)


def apply() -> None:
    """Install the fix (idempotent)."""
    Consumer.ack = _ack_only_handed_on  # type: ignore[method-assign]
