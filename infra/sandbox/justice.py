"""Civil-status sandbox (hộ tịch, justice): Kafka-native.

Files birth dossiers onto ``agency.justice.outbox`` in its own flat Vietnamese format, performs
``register_birth`` commands from its inbox (once per idempotency key) and keeps every status update
the hub sends back about the dossiers it filed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contracts.actions import BirthRegistered, RegisterBirth
from contracts.envelope import Envelope, describe_error
from contracts.events import (
    DOSSIER_OVERDUE,
    DOSSIER_STATUS,
    STEP_COMMAND,
    Outcome,
    OverdueNotice,
    StatusUpdate,
    StepCommand,
)
from contracts.text import normalize_text
from infra.sandbox.effects import EffectLog
from infra.sandbox.kafka_agency import KafkaAgency


def _born_outside_a_facility(place: str) -> bool:
    return normalize_text(place).casefold().startswith(("tại nhà", "at home"))


class JusticeAgency(KafkaAgency):
    agency = "justice"

    def __init__(self, bootstrap: str, effects_path: Path | None = None) -> None:
        super().__init__(bootstrap)
        self.effects = EffectLog("justice", effects_path)
        self.statuses: dict[str, list[StatusUpdate]] = defaultdict(list)
        self.apologies: dict[str, list[OverdueNotice]] = defaultdict(list)
        self.drop_replies = 0  # perform this many commands but lose the reply (for tests)

    async def file_birth(self, filing: dict[str, Any]) -> None:
        """File a birth dossier (native format) on the justice outbox, keyed by its dossier code."""
        await self.send_json(str(filing.get("ma_ho_so", "")), filing)

    async def handle(self, envelope: Envelope) -> None:
        if envelope.type == DOSSIER_STATUS:
            self.statuses[envelope.subject].append(envelope.payload(StatusUpdate))
        elif envelope.type == DOSSIER_OVERDUE:
            self.apologies[envelope.subject].append(envelope.payload(OverdueNotice))
        elif envelope.type == STEP_COMMAND:
            await self._command(envelope)

    async def _command(self, envelope: Envelope) -> None:
        command = envelope.payload(StepCommand)
        key = envelope.idempotencykey or ""
        if (answer := self.effects.repeat(key)) is not None:
            await self.reply(envelope, Outcome.SUCCEEDED, BirthRegistered.model_validate(answer))
            return
        if command.action != "register_birth" or not key:
            await self.reply(envelope, Outcome.REJECTED,
                             reason=f"justice cannot perform {command.action!r} without an idempotency key"
                             if not key else f"justice does not perform {command.action!r}")
            return
        try:
            params = RegisterBirth.model_validate(command.params)
        except ValidationError as exc:
            await self.reply(envelope, Outcome.REJECTED, reason=f"invalid register_birth: {describe_error(exc)}")
            return
        if _born_outside_a_facility(params.place_of_birth) and "witness_statement" not in command.supplement:
            await self.reply(envelope, Outcome.DOCUMENTS_REQUESTED,
                             reason="a birth outside a medical facility needs a witness statement "
                                    "(văn bản xác nhận của người làm chứng): supply witness_statement")
            return
        now = datetime.now(UTC)
        result = BirthRegistered(birth_certificate_no=f"KS-{params.commune_code}-{now:%Y}-{len(self.effects) + 1:05d}",
                                 registered_at=now)
        self.effects.record(key, "birth_registered", result.model_dump(mode="json"),
                            child_full_name=params.child_full_name, dossier_id=envelope.subject)
        if self.drop_replies > 0:
            self.drop_replies -= 1
            return
        await self.reply(envelope, Outcome.SUCCEEDED, result)
