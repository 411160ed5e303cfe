"""Tax authority sandbox (cơ quan thuế): Kafka-native.

Issues enterprise codes (10 digits: 2-digit province, 7-digit sequence, check digit), which are
also the enterprise's tax code, once per idempotency key.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from contracts.actions import EnterpriseCodeIssued, IssueEnterpriseCode
from contracts.envelope import Envelope
from contracts.events import StepCommand
from contracts.identifiers import tax_check_digit
from infra.sandbox.kafka_agency import Handler, KafkaAgency


class TaxAuthority(KafkaAgency):
    agency = "tax"

    def __init__(self, bootstrap: str, effects_path: Path | None = None, seed: int = 2026) -> None:
        super().__init__(bootstrap, effects_path)
        self._sequence = random.Random(seed).randrange(1_000_000, 2_000_000)
        self.enterprises: dict[str, dict[str, str]] = {}  # by enterprise code

    def handlers(self) -> dict[str, Handler]:
        return {"issue_enterprise_code": self._issue_enterprise_code}

    def _next_code(self, province_code: str) -> str:
        while True:
            self._sequence += 1
            first_nine = f"{province_code}{self._sequence:07d}"
            check = tax_check_digit(first_nine)
            if check is not None and first_nine + str(check) not in self.enterprises:
                return first_nine + str(check)

    async def _issue_enterprise_code(self, params: IssueEnterpriseCode, command: StepCommand, envelope: Envelope):
        code = self._next_code(params.province_code)
        self.enterprises[code] = {"name": params.enterprise_name, "representative_id": params.representative_id,
                                  "dossier_id": envelope.subject}
        return EnterpriseCodeIssued(enterprise_code=code, issued_at=datetime.now(UTC)), {"name": params.enterprise_name}
