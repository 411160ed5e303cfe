"""Tax authority sandbox (cơ quan thuế): Kafka-native.

Issues enterprise codes (10 digits: 2-digit province, 7-digit sequence, check digit), which are
also the enterprise's tax code; computes land-transfer obligations from the declared value with
the rates in ``LAND_RATES``; confirms obligations once paid. Each once per idempotency key.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from connectors.kafka_client import KafkaClient
from contracts.actions import (
    ComputeLandObligations,
    ConfirmObligations,
    EnterpriseCodeIssued,
    IssueEnterpriseCode,
    LandObligationsNotice,
    ObligationsConfirmed,
)
from contracts.envelope import Envelope
from contracts.events import Outcome, StepCommand
from contracts.identifiers import tax_check_digit
from contracts.topics import Topics
from infra.sandbox.kafka_agency import AgencyAnswer, Handler, KafkaAgency

# Configuration, not law: check the current rates before relying on these figures.
LAND_RATES = {
    "registration_fee": 0.005,  # lệ phí trước bạ, 0.5% of the declared value
    "personal_income_tax": 0.02,  # thuế TNCN on a transfer, 2% of the declared value
    "land_use_fee": 0.0,  # tiền sử dụng đất: none on a transfer between households
}


class TaxAuthority(KafkaAgency):
    agency = "tax"

    def __init__(
        self, client: KafkaClient, topics: Topics, effects_path: Path | None = None, seed: int = 2026, *, keyring: Path
    ) -> None:
        super().__init__(client, topics, effects_path, keyring=keyring)
        self._sequence = random.Random(seed).randrange(1_000_000, 2_000_000)
        self.enterprises: dict[str, dict[str, str]] = {}  # by enterprise code
        self.notices: dict[str, dict] = {}  # land obligations notices by number
        self.rates = dict(LAND_RATES)
        self.refuse_confirmations = 0  # refuse this many confirmations (to exercise compensation)

    def handlers(self) -> dict[str, Handler]:
        return {
            "issue_enterprise_code": self._issue_enterprise_code,
            "compute_land_obligations": self._compute_land_obligations,
            "confirm_obligations": self._confirm_obligations,
        }

    async def _compute_land_obligations(self, params: ComputeLandObligations, command: StepCommand, envelope: Envelope):
        value = params.declared_value_vnd
        fees = {f"{name}_vnd": round(value * rate) for name, rate in self.rates.items()}
        notice = LandObligationsNotice(notice_no=f"TB-{envelope.subject[-11:]}", **fees, total_vnd=sum(fees.values()))
        self.notices[notice.notice_no] = notice.model_dump() | {"paid": False, "dossier_id": envelope.subject}
        return notice, {"declared_value_vnd": value, "commune_code": params.address_commune_code}

    async def _confirm_obligations(self, params: ConfirmObligations, command: StepCommand, envelope: Envelope):
        notice = self.notices.get(params.notice_no)
        if self.refuse_confirmations > 0:
            self.refuse_confirmations -= 1
            raise AgencyAnswer(Outcome.REJECTED, "the land office reports the parcel is under a court seizure order")
        if notice is None:
            raise AgencyAnswer(Outcome.REJECTED, f"notice_no: no payment notice {params.notice_no}")
        if params.amount_vnd != notice["total_vnd"]:
            raise AgencyAnswer(
                Outcome.REJECTED,
                f"amount_vnd: {params.amount_vnd} VND paid, {notice['total_vnd']} VND due on {params.notice_no}",
            )
        notice["paid"] = True
        return ObligationsConfirmed(notice_no=params.notice_no, confirmed_at=datetime.now(UTC)), {
            "transaction_id": params.transaction_id
        }

    def _next_code(self, province_code: str) -> str:
        while True:
            self._sequence += 1
            first_nine = f"{province_code}{self._sequence:07d}"
            check = tax_check_digit(first_nine)
            if check is not None and first_nine + str(check) not in self.enterprises:
                return first_nine + str(check)

    async def _issue_enterprise_code(self, params: IssueEnterpriseCode, command: StepCommand, envelope: Envelope):
        code = self._next_code(params.province_code)
        self.enterprises[code] = {
            "name": params.enterprise_name,
            "representative_id": params.representative_id,
            "dossier_id": envelope.subject,
        }
        return EnterpriseCodeIssued(enterprise_code=code, issued_at=datetime.now(UTC)), {"name": params.enterprise_name}
