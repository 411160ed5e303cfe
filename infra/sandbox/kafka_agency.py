"""Base for Kafka-native sandbox agencies: read the agency's inbox, write replies to its outbox."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel, ValidationError

from contracts import topics
from contracts.envelope import Envelope
from contracts.events import STEP_REPLY, Outcome, StepCommand, StepReply

log = structlog.get_logger("lienthong.sandbox")


class KafkaAgency:
    """An agency system that speaks the hub's contracts natively over Kafka."""

    agency: str = ""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None
        self.unreadable: list[bytes] = []  # inbox messages that were not envelopes

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all",
                                          enable_idempotence=True, linger_ms=5)
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            topics.inbox(self.agency), bootstrap_servers=self._bootstrap,
            group_id=f"{topics.namespace()}sandbox-{self.agency}",
            auto_offset_reset="earliest", enable_auto_commit=False)
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"sandbox-{self.agency}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    async def send_outbox(self, key: str, value: bytes) -> None:
        """Write one message to this agency's outbox and wait until the broker has it."""
        assert self._producer is not None, "agency not started"
        await self._producer.send_and_wait(topics.outbox(self.agency), key=key.encode(), value=value)

    async def send_json(self, key: str, value: dict[str, Any]) -> None:
        await self.send_outbox(key, json.dumps(value, ensure_ascii=False).encode())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    try:
                        envelope = Envelope.from_bytes(record.value)
                    except ValidationError:
                        self.unreadable.append(record.value)
                        continue
                    try:
                        await self.handle(envelope)
                    except Exception:  # a sandbox bug must not stop the agency
                        log.exception("sandbox agency failed on a message", agency=self.agency,
                                      dossier_id=envelope.subject)
            if batch:
                await self._consumer.commit()

    async def handle(self, envelope: Envelope) -> None:
        raise NotImplementedError

    async def reply(self, command: Envelope, outcome: Outcome, result: BaseModel | None = None,
                    reason: str | None = None) -> None:
        cmd = command.payload(StepCommand)
        data = StepReply(step=cmd.step, action=cmd.action, agency=self.agency, outcome=outcome,
                         result=result.model_dump(mode="json") if result else {}, reason=reason)
        out = command.caused(source=f"/agency/{self.agency}", type=STEP_REPLY, data=data)
        await self.send_outbox(command.subject, out.to_bytes())
