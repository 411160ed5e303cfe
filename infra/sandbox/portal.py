"""Public-service portal sandbox (Cổng dịch vụ công / một cửa): Kafka-native.

Keeps each dossier's status timeline as the citizen sees it, and performs ``return_result``
commands (the result documents reach the citizen) once per idempotency key.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from contracts.actions import ResultReturned, ReturnResult
from contracts.envelope import Envelope
from contracts.events import DOSSIER_STATUS, STEP_COMMAND, Outcome, StatusUpdate, StepCommand
from infra.sandbox.effects import EffectLog
from infra.sandbox.kafka_agency import KafkaAgency


class PortalAgency(KafkaAgency):
    agency = "portal"

    def __init__(self, bootstrap: str, effects_path: Path | None = None) -> None:
        super().__init__(bootstrap)
        self.effects = EffectLog("portal", effects_path)
        self.timelines: dict[str, list[StatusUpdate]] = defaultdict(list)
        self.documents: dict[str, dict[str, str]] = {}

    def current(self, dossier_id: str) -> StatusUpdate | None:
        timeline = self.timelines.get(dossier_id)
        return timeline[-1] if timeline else None

    async def handle(self, envelope: Envelope) -> None:
        if envelope.type == DOSSIER_STATUS:
            self.timelines[envelope.subject].append(envelope.payload(StatusUpdate))
        elif envelope.type == STEP_COMMAND:
            command = envelope.payload(StepCommand)
            key = envelope.idempotencykey or ""
            if command.action != "return_result" or not key:
                await self.reply(envelope, Outcome.REJECTED, reason=f"portal does not perform {command.action!r}")
                return
            if (answer := self.effects.repeat(key)) is not None:
                await self.reply(envelope, Outcome.SUCCEEDED, ResultReturned.model_validate(answer))
                return
            params = ReturnResult.model_validate(command.params)
            result = ResultReturned(returned_at=datetime.now(UTC))
            self.documents[envelope.subject] = params.documents
            self.effects.record(key, "result_returned", result.model_dump(mode="json"), documents=params.documents)
            await self.reply(envelope, Outcome.SUCCEEDED, result)
