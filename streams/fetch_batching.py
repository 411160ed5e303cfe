"""Fetch batching for the worker's consumer, which Faust builds with ``fetch_max_wait_ms=1500`` and
aiokafka's default ``fetch_min_bytes=1`` hard-coded (``faust/transport/drivers/aiokafka.py``,
``_create_worker_consumer``): the broker answers a fetch as soon as one record is there, so a
busy worker sends a fetch request for every few records, and the broker spends its CPU on
requests rather than records. :func:`apply` has the broker wait for ``min_bytes`` or
``max_wait_ms``, whichever comes first, on the consumer of the app it is given.
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

import aiokafka
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import AppT

_original = AIOKafkaConsumerThread._create_worker_consumer
_batching: WeakKeyDictionary[AppT, tuple[int, int]] = WeakKeyDictionary()


def _create_batching_consumer(self: AIOKafkaConsumerThread, transport: Any) -> aiokafka.AIOKafkaConsumer:
    consumer = _original(self, transport)
    if (batching := _batching.get(self.app)) is not None:
        consumer._fetch_min_bytes, consumer._fetch_max_wait_ms = batching  # read when the consumer starts
    return consumer


def apply(app: AppT, min_bytes: int, max_wait_ms: int) -> None:
    """Fetch for ``app``'s worker consumer in batches of ``min_bytes``, waiting at most ``max_wait_ms``."""
    _batching[app] = (min_bytes, max_wait_ms)
    AIOKafkaConsumerThread._create_worker_consumer = _create_batching_consumer  # type: ignore[method-assign]
