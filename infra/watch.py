"""Follow the hub from outside: transitions on the monitoring topic and dead letters.

Used by the demo to show progress live and by the integration tests to wait on outcomes (each
wait has a deadline; nothing sleeps for a fixed time).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer

from connectors.kafka_client import KafkaClient
from contracts.envelope import Envelope
from contracts.events import Transition, Transitions
from contracts.topics import Topics, dlq_fields
from infra.topics import partitions_of


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def reason(self) -> str:
        return self.headers.get("reason", "")


class HubWatcher:
    """Reads ``hub.monitor.transitions`` and ``hub.deadletter`` from their end at :meth:`start`."""

    def __init__(
        self,
        client: KafkaClient,
        topics: Topics,
        on_transition: Callable[[Transition], None] | None = None,
        on_dead_letter: Callable[[DeadLetter], None] | None = None,
    ) -> None:
        self._client = client
        self._topics = topics
        self._on_transition = on_transition
        self._on_dead_letter = on_dead_letter
        self.transitions: dict[str, list[Transition]] = defaultdict(list)
        self.dead_letters: list[DeadLetter] = []
        self._seen: set[str] = set()  # transition ids already taken
        self._changed = asyncio.Condition()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(**self._client.aiokafka(), group_id=None, enable_auto_commit=False)
        await self._consumer.start()
        tps = [
            *await partitions_of(self._consumer, self._topics.monitor),
            *await partitions_of(self._consumer, self._topics.deadletter),
        ]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:  # pin the positions now, so nothing produced from here on is skipped
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._run(), name="hub-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        monitor = self._topics.monitor
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for tp, records in batch.items():
                for record in records:
                    if tp.topic == monitor:
                        envelope = Envelope.from_bytes(record.value)
                        if envelope.id in self._seen:
                            continue  # re-emitted by the hub after a restart
                        self._seen.add(envelope.id)
                        for transition in envelope.payload(Transitions).transitions:
                            self.transitions[transition.dossier_id].append(transition)
                            if self._on_transition:
                                self._on_transition(transition)
                    else:
                        letter = DeadLetter(record.key, record.value, dlq_fields(record.headers))
                        self.dead_letters.append(letter)
                        if self._on_dead_letter:
                            self._on_dead_letter(letter)
            if batch:
                async with self._changed:
                    self._changed.notify_all()

    def final_status(self, dossier_id: str) -> Transition | None:
        """The dossier's final status transition, if it reached one."""
        for t in reversed(self.transitions.get(dossier_id, [])):
            if t.step is None and t.status is not None and t.status.is_final:
                return t
        return None

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Wait until ``condition()`` holds; raise TimeoutError naming ``what`` after the deadline."""
        deadline = time.monotonic() + timeout_s
        async with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    continue
