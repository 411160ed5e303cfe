"""Public-service portal sandbox (Cổng dịch vụ công / một cửa): Kafka-native.

Files dossiers for any procedure as contract envelopes, passes on citizens' requests (withdraw,
supply documents), keeps each dossier's status timeline and apologies as the citizen sees them,
and performs ``return_result`` commands (the result documents reach the citizen) once per key.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from connectors.kafka_client import KafkaClient
from contracts.actions import ResultReturned, ReturnResult
from contracts.envelope import Envelope, filing_envelope
from contracts.events import (
    DOSSIER_OVERDUE,
    DOSSIER_STATUS,
    DOSSIER_SUPPLEMENTED,
    DOSSIER_WITHDRAWN,
    DossierFiled,
    DossierSupplemented,
    DossierWithdrawn,
    OverdueNotice,
    StatusUpdate,
    StepCommand,
)
from contracts.topics import Topics
from infra.sandbox.kafka_agency import Handler, KafkaAgency


class PortalAgency(KafkaAgency):
    agency = "portal"

    def __init__(self, client: KafkaClient, topics: Topics, effects_path: Path | None = None, *, keyring: Path) -> None:
        super().__init__(client, topics, effects_path, keyring=keyring)
        self.timelines: dict[str, list[StatusUpdate]] = defaultdict(list)
        self.documents: dict[str, dict[str, str]] = {}
        self.apologies: dict[str, list[OverdueNotice]] = defaultdict(list)

    async def file(self, procedure: str, dossier_id: str, filing: dict, channel: int = 2) -> Envelope:
        """File a dossier for ``procedure`` on the portal outbox as a contract envelope."""
        filed = DossierFiled(
            dossier_id=dossier_id,
            procedure=procedure,
            received_at=datetime.now(UTC),
            channel=channel,
            filed_by="portal",
            filing=filing,
        )
        envelope = filing_envelope(filed, "/agency/portal")
        await self.send_envelope(envelope)
        return envelope

    async def withdraw(self, dossier_id: str, reason: str = "withdrawn at the citizen's request") -> None:
        await self._citizen_request(dossier_id, DOSSIER_WITHDRAWN, DossierWithdrawn(reason=reason))

    async def supplement(self, dossier_id: str, documents: dict[str, str]) -> None:
        await self._citizen_request(dossier_id, DOSSIER_SUPPLEMENTED, DossierSupplemented(documents=documents))

    async def _citizen_request(self, dossier_id: str, type_: str, data) -> None:
        envelope = Envelope(
            source="/agency/portal",
            type=type_,
            subject=dossier_id,
            correlationid=str(uuid4()),
            data=data.model_dump(mode="json"),
        )
        await self.send_envelope(envelope)

    def current(self, dossier_id: str) -> StatusUpdate | None:
        timeline = self.timelines.get(dossier_id)
        return timeline[-1] if timeline else None

    async def handle(self, envelope: Envelope) -> None:
        if envelope.type == DOSSIER_STATUS:
            self.timelines[envelope.subject].append(envelope.payload(StatusUpdate))
        elif envelope.type == DOSSIER_OVERDUE:
            self.apologies[envelope.subject].append(envelope.payload(OverdueNotice))
        else:
            await super().handle(envelope)

    def handlers(self) -> dict[str, Handler]:
        return {"return_result": self._return_result}

    async def _return_result(self, params: ReturnResult, command: StepCommand, envelope: Envelope):
        self.documents[envelope.subject] = params.documents
        return ResultReturned(returned_at=datetime.now(UTC)), {"documents": params.documents}
