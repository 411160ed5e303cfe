"""Civil-status sandbox (hộ tịch, justice): Kafka-native.

Files birth dossiers onto ``agency.justice.outbox`` in its own flat Vietnamese format, performs
``register_birth``, ``register_death`` and ``check_criminal_record`` commands from its inbox (once per idempotency key) and keeps every status update
and apology the hub sends back about the dossiers it filed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.kafka_client import KafkaClient
from contracts.actions import (
    BirthRegistered,
    CheckCriminalRecord,
    CriminalRecordCertificate,
    DeathRegistered,
    RegisterBirth,
    RegisterDeath,
)
from contracts.envelope import Envelope
from contracts.events import DOSSIER_OVERDUE, DOSSIER_STATUS, Outcome, OverdueNotice, StatusUpdate, StepCommand
from contracts.text import normalize_text
from contracts.topics import Topics
from infra.sandbox.kafka_agency import AgencyAnswer, Handler, KafkaAgency


def _born_outside_a_facility(place: str) -> bool:
    return normalize_text(place).casefold().startswith(("tại nhà", "at home"))


class JusticeAgency(KafkaAgency):
    agency = "justice"

    def __init__(self, client: KafkaClient, topics: Topics, effects_path: Path | None = None, *, keyring: Path) -> None:
        super().__init__(client, topics, effects_path, keyring=keyring)
        self.statuses: dict[str, list[StatusUpdate]] = defaultdict(list)
        self.apologies: dict[str, list[OverdueNotice]] = defaultdict(list)

    async def file_birth(self, filing: dict[str, Any]) -> None:
        """File a birth dossier (native format) on the justice outbox, keyed by its dossier code."""
        await self.send_json(str(filing.get("ma_ho_so", "")), filing)

    async def handle(self, envelope: Envelope) -> None:
        if envelope.type == DOSSIER_STATUS:
            self.statuses[envelope.subject].append(envelope.payload(StatusUpdate))
        elif envelope.type == DOSSIER_OVERDUE:
            self.apologies[envelope.subject].append(envelope.payload(OverdueNotice))
        else:
            await super().handle(envelope)

    def handlers(self) -> dict[str, Handler]:
        return {
            "register_birth": self._register_birth,
            "register_death": self._register_death,
            "check_criminal_record": self._check_criminal_record,
        }

    async def _check_criminal_record(self, params: CheckCriminalRecord, command: StepCommand, envelope: Envelope):
        now = datetime.now(UTC)
        result = CriminalRecordCertificate(
            certificate_no=f"LLTP-{now:%Y}-{len(self.effects) + 1:05d}", has_convictions=False, issued_at=now
        )
        return result, {"applicant_id": params.applicant.personal_id, "dossier_id": envelope.subject}

    async def _register_death(self, params: RegisterDeath, command: StepCommand, envelope: Envelope):
        now = datetime.now(UTC)
        result = DeathRegistered(death_certificate_no=f"KT-{now:%Y}-{len(self.effects) + 1:05d}", registered_at=now)
        return result, {"deceased_id": params.deceased.personal_id, "dossier_id": envelope.subject}

    async def _register_birth(self, params: RegisterBirth, command: StepCommand, envelope: Envelope):
        if _born_outside_a_facility(params.place_of_birth) and "witness_statement" not in command.supplement:
            raise AgencyAnswer(
                Outcome.DOCUMENTS_REQUESTED,
                "a birth outside a medical facility needs a witness statement "
                "(văn bản xác nhận của người làm chứng): supply witness_statement",
            )
        now = datetime.now(UTC)
        result = BirthRegistered(
            birth_certificate_no=f"KS-{params.commune_code}-{now:%Y}-{len(self.effects) + 1:05d}", registered_at=now
        )
        return result, {"child_full_name": params.child_full_name, "dossier_id": envelope.subject}
