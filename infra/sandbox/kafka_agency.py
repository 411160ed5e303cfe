"""Base for Kafka-native sandbox agencies: read the agency's inbox, write replies to its outbox."""

from __future__ import annotations

import asyncio
import contextvars
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel, ValidationError

from connectors.kafka_client import KafkaClient
from contracts.actions import ACTIONS
from contracts.agencies import AGENCIES, REGISTRY
from contracts.envelope import Envelope, Headers, describe_error, envelope_headers
from contracts.errors import SignatureRefused
from contracts.events import FILING_REFUSED, STEP_COMMAND, STEP_REPLY, FilingRefused, Outcome, StepCommand, StepReply
from contracts.record_signing import Signer, TrustStore
from contracts.topics import Topics
from infra.sandbox.effects import EffectLog

log = structlog.get_logger("lienthong.sandbox")
SIGNATURE_WINDOW = timedelta(minutes=15)
SEEN_IDS = 100_000
_UNACKED: contextvars.ContextVar[list[asyncio.Future] | None] = contextvars.ContextVar("unacked", default=None)
COMMIT_INTERVAL_S = 1.0
"""Offsets are committed this often while busy, and when the inbox goes quiet; always once every
reply to what was read is on the broker."""
FETCH_MIN_BYTES, FETCH_MAX_WAIT_MS = 16_384, 20
"""The broker answers a fetch once this much is there, or after this long: batches, not a request
per record, as a real agency system would read."""


class AgencyAnswer(Exception):
    """A handler's answer other than success: the agency refuses, or asks for documents."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome


Handler = Callable[[Any, StepCommand, Envelope], Awaitable[tuple[BaseModel, dict[str, Any]]]]


class KafkaAgency:
    """An agency system that speaks the hub's contracts natively over Kafka."""

    agency: str = ""

    def __init__(self, client: KafkaClient, topics: Topics, effects_path: Path | None = None, *, keyring: Path) -> None:
        self._client = client  # connected as the agency's own principal
        self._topics = topics
        self._signer = Signer.load(keyring, AGENCIES[self.agency].keys[0])  # signs what it writes
        self._trust = TrustStore.load(keyring)  # verifies the hub's signature on what it reads
        self.refused: list[str] = []  # inbox records not signed by the hub: never acted on (for tests)
        self._seen: dict[str, None] = {}  # envelope ids already handled, oldest first
        self.records_read = 0  # inbox records taken, whatever became of them (for tests)
        self.effects = EffectLog(self.agency, effects_path)
        self.held: dict[str, list[Envelope]] = defaultdict(list)  # replies held back, by dossier (for tests)
        self._holding: set[str] = set()
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None
        self.unreadable: list[bytes] = []  # inbox messages that were not envelopes
        self.refusals: dict[str, list[FilingRefused]] = defaultdict(list)  # filings the hub did not take

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(**self._client.aiokafka(), acks="all", enable_idempotence=True, linger_ms=5)
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            self._topics.inbox(self.agency),
            **self._client.aiokafka(),
            group_id=self._topics.agency_group(self.agency, "sandbox"),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_min_bytes=FETCH_MIN_BYTES,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"sandbox-{self.agency}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    async def send_outbox(self, key: str, value: bytes, headers: Headers | None = None) -> None:
        """Write one message to this agency's outbox, signed, and wait until the broker has it (a
        reply to an inbox batch: until the batch is done, before its offsets are committed)."""
        assert self._producer is not None, "agency not started"
        signed = [*(headers or []), *self._signer.headers(value)]
        sent = await self._producer.send(
            self._topics.outbox(self.agency), key=key.encode(), value=value, headers=signed
        )
        if (unacked := _UNACKED.get()) is None:
            await sent
        else:
            unacked.append(sent)

    async def send_envelope(self, envelope: Envelope) -> None:
        """Write an envelope to this agency's outbox, keyed by its dossier, as the Kafka binding says."""
        await self.send_outbox(envelope.subject, envelope.to_bytes(), envelope_headers())

    async def send_json(self, key: str, value: dict[str, Any]) -> None:
        await self.send_outbox(key, json.dumps(value, ensure_ascii=False).encode())

    async def _run(self) -> None:
        assert self._consumer is not None
        committed_at, uncommitted = 0.0, False
        while True:
            batch = await self._consumer.getmany(timeout_ms=500)
            unacked: list[asyncio.Future] = []
            _UNACKED.set(unacked)  # this task's replies are awaited together, below
            for records in batch.values():
                for record in records:
                    self.records_read += 1
                    try:
                        self._trust.verify(record.value, record.headers, REGISTRY.hub.keys, SIGNATURE_WINDOW)
                    except SignatureRefused as exc:
                        self.refused.append(str(exc))
                        log.warning("inbox record refused", agency=self.agency, reason=str(exc))
                        continue
                    try:
                        envelope = Envelope.from_bytes(record.value)
                    except ValidationError:
                        self.unreadable.append(record.value)
                        continue
                    if not self._first_sight(envelope.id):
                        continue  # re-emitted by the hub after a restart: already seen, as its id says
                    try:
                        await self.handle(envelope)
                    except Exception:  # a sandbox bug must not stop the agency
                        log.exception(
                            "sandbox agency failed on a message", agency=self.agency, dossier_id=envelope.subject
                        )
            await asyncio.gather(*unacked)  # a reply that cannot be written stops the agency uncommitted
            uncommitted |= bool(batch)
            if uncommitted and (not batch or time.monotonic() - committed_at >= COMMIT_INTERVAL_S):
                await self._consumer.commit()
                committed_at, uncommitted = time.monotonic(), False

    def _first_sight(self, envelope_id: str) -> bool:
        """Whether this envelope id is new here (the last ``SEEN_IDS`` ids are remembered)."""
        if envelope_id in self._seen:
            return False
        self._seen[envelope_id] = None
        if len(self._seen) > SEEN_IDS:
            self._seen.pop(next(iter(self._seen)))
        return True

    async def handle(self, envelope: Envelope) -> None:
        """Perform step commands, note refused filings; subclasses add other types (status updates…)."""
        if envelope.type == STEP_COMMAND:
            await self.perform(envelope)
        elif envelope.type == FILING_REFUSED:
            self.refusals[envelope.subject].append(envelope.payload(FilingRefused))

    async def perform(self, envelope: Envelope) -> None:
        """Perform a command once per idempotency key and reply; a repeat gets the first answer."""
        command = envelope.payload(StepCommand)
        if not self.addressed_to_me(command):  # on this inbox by mistake: another agency's to perform
            log.warning("command for another agency ignored", agency=self.agency, addressed_to=command.agency)
            return
        key = envelope.idempotencykey
        if not key:
            await self.reply(envelope, Outcome.REJECTED, reason=f"{self.agency} needs an idempotency key")
            return
        if (answer := self.effects.repeat(key)) is not None:
            await self.reply(envelope, Outcome.SUCCEEDED, answer)
            return
        handler = self.handlers().get(command.action)
        if handler is None:
            await self.reply(envelope, Outcome.REJECTED, reason=f"{self.agency} does not perform {command.action!r}")
            return
        try:
            params = ACTIONS[command.action].params.model_validate(command.params)
            result, details = await handler(params, command, envelope)
        except ValidationError as exc:
            await self.reply(envelope, Outcome.REJECTED, reason=f"invalid {command.action}: {describe_error(exc)}")
            return
        except AgencyAnswer as refusal:
            await self.reply(envelope, refusal.outcome, reason=str(refusal))
            return
        self.effects.record(key, command.action, result.model_dump(mode="json"), **details)
        await self.reply(envelope, Outcome.SUCCEEDED, result)

    def addressed_to_me(self, command: StepCommand) -> bool:
        return command.agency == self.agency

    def handlers(self) -> dict[str, Handler]:
        """Action name -> coroutine(params, command, envelope) returning (result, effect details)."""
        return {}

    async def reply(
        self, command: Envelope, outcome: Outcome, result: BaseModel | dict | None = None, reason: str | None = None
    ) -> None:
        cmd = command.payload(StepCommand)
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        data = StepReply(
            step=cmd.step, action=cmd.action, agency=self.agency, outcome=outcome, result=result or {}, reason=reason
        )
        out = command.caused(
            source=f"/agency/{self.agency}", type=STEP_REPLY, data=data, idempotencykey=command.idempotencykey
        )
        if command.subject in self._holding:
            self.held[command.subject].append(out)
            return
        await self.send_envelope(out)

    # Holding replies (for tests): the agency performs the dossier's commands as usual, but every
    # reply about the dossier, to a re-sent command too, stays here until the test releases it.

    def hold_replies(self, dossier_id: str) -> None:
        """Hold back every reply about ``dossier_id`` until :meth:`release`; the effects still happen."""
        self._holding.add(dossier_id)

    async def release(self, dossier_id: str, *, deliver: bool = False) -> list[Envelope]:
        """Stop holding replies about ``dossier_id``; returns the replies that were held.

        With ``deliver`` they are sent now (the link came back); otherwise they stay lost and the
        hub's next re-send is answered from the effect record.
        """
        self._holding.discard(dossier_id)
        held = self.held.pop(dossier_id, [])
        if deliver:
            for reply in held:
                await self.send_envelope(reply)
        return held

    @asynccontextmanager
    async def replies_held(self, dossier_id: str, *, deliver: bool = False) -> AsyncIterator[list[Envelope]]:
        """Hold replies about ``dossier_id`` inside the block (yields the live list of them); released on
        the way out, even on failure."""
        self.hold_replies(dossier_id)
        try:
            yield self.held[dossier_id]
        finally:
            await self.release(dossier_id, deliver=deliver)
