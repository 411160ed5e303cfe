"""The orchestrator end to end without Kafka: events in, records out, state in a plain dict.

Each test files a dossier of a shipped procedure, answers the commands the hub sends as the
agencies would, and checks what a user sees: the final status, the commands each agency got, the
refunds, the audit records, the dead-letter reasons.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from contracts.audit import ChainCheck, subject_ref
from contracts.catalog import builtin_catalog, canonical_filing, validate_procedure
from contracts.envelope import Envelope
from contracts.errors import FilingConflict, PaymentMismatch, Unprocessable
from contracts.events import (
    DOSSIER_FILED,
    DOSSIER_OVERDUE,
    DOSSIER_STATUS,
    DOSSIER_WITHDRAWN,
    FILING_REFUSED,
    PAYMENT_NOTIFIED,
    SAGA_EXPIRED,
    STEP_COMMAND,
    STEP_REPLY,
    STEP_TIMEOUT,
    AuditRecord,
    DeadlinePassed,
    DossierFiled,
    DossierWithdrawn,
    FilingRefused,
    Outcome,
    PaymentNotification,
    SagaExpired,
    StepReply,
    StepTimeout,
    Transitions,
)
from contracts.status import DossierStatus as S
from contracts.topics import Topics
from contracts.working_days import WorkingCalendar, load_calendar
from streams.app import SagaCodec
from streams.audit import AuditLog
from streams.orchestrate import Orchestrator
from streams.saga_state import SagaState, StepStatus
from streams.settings import HubSettings
from tests.unit.fakes import keyring

CATALOG = builtin_catalog()
AUDIT_KEY = "test-audit-key"
T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # a Friday, 08:00 in Vietnam
DOSSIER = "000.00.31.H26-261120-0001"
MOTHER, FATHER = ("093195000123", "Trần Thị Lan"), ("093092000456", "Lê Văn Hùng")
ADDRESS = {"commune_code": "31360", "province_code": "92"}
FILINGS: dict[str, dict[str, Any]] = {  # by filing kind
    "land_transfer": {
        "parcel_no": "12",
        "map_sheet_no": "3",
        "land_use_purpose": "đất ở tại đô thị",
        "certificate": {
            "serial_no": "CS 123456",
            "register_no": "CS01234",
            "issued_on": "15/03/2018",
            "issued_by": "Sở Tài nguyên và Môi trường tỉnh Hậu Giang",
        },
        "contract": {"number": "1234/2026/CCGD", "signed_on": "20/11/2026"},
        "area_m2": 120.5,
        "parcel_address": ADDRESS,
        "declared_value_vnd": 1_500_000_000,
        "transferor": {"full_name": FATHER[1], "personal_id": FATHER[0], "address": ADDRESS},
        "transferee": {"full_name": MOTHER[1], "personal_id": MOTHER[0], "address": ADDRESS},
        "complete_dossier_received_on": "20/11/2026",
    },
    "criminal_record": {
        "applicant": {
            "full_name": MOTHER[1],
            "personal_id": MOTHER[0],
            "sex": "female",
            "date_of_birth": "05/05/1995",
            "place_of_birth": "Hậu Giang",
            "nationality": "VN",
            "permanent_residence": ADDRESS,
        },
        "residence_history": [{"from_month": "05/2009", "address": "Ấp Láng Hầm, xã Thạnh Xuân"}],
        "certificate_type": 1,
        "purpose": "xin việc (job application)",
    },
    "death": {
        "death_notice_no": "GBT-1",
        "deceased": {
            "full_name": FATHER[1],
            "personal_id": FATHER[0],
            "sex": "male",
            "ethnicity": "01",
            "nationality": "VN",
            "last_residence": ADDRESS,
        },
        "date_of_death": "2026-11-18",
        "place_of_death": "BV Cần Thơ",
        "declarant": {"full_name": MOTHER[1], "personal_id": MOTHER[0], "relationship": "vợ (wife)"},
        "include_residence_removal": True,
        "include_funeral_allowance": True,
    },
}
RESULTS: dict[str, dict[str, Any]] = {
    "verify_citizen": {
        "personal_id": MOTHER[0],
        "full_name": MOTHER[1],
        "date_of_birth": "1995-05-05",
        "sex": "female",
        "commune_code": "31360",
    },
    "check_vneid_level": {"personal_id": MOTHER[0], "vneid_level": 2},
    "compute_land_obligations": {
        "notice_no": "TB-1",
        "registration_fee_vnd": 7_500_000,
        "personal_income_tax_vnd": 30_000_000,
        "land_use_fee_vnd": 0,
        "total_vnd": 37_500_000,
    },
    "confirm_obligations": {"notice_no": "TB-1", "confirmed_at": "2026-11-20T02:00:00Z"},
    "check_criminal_record": {
        "certificate_no": "LLTP-1",
        "has_convictions": False,
        "issued_at": "2026-11-20T02:00:00Z",
    },
    "register_death": {"death_certificate_no": "KT-1", "registered_at": "2026-11-20T02:00:00Z"},
    "remove_residence": {"removal_id": "X-1", "personal_id": FATHER[0], "removed_at": "2026-11-20T02:00:00Z"},
    "pay_funeral_allowance": {"payment_ref": "MT-1", "amount_vnd": 18_000_000},
    "refund_payment": {"refund_id": "RF-1", "refunded_at": "2026-11-20T03:00:00Z"},
    "return_result": {"returned_at": "2026-11-20T03:00:00Z"},
}


def sign(data: bytes) -> tuple[str, bytes]:
    return "test-key", b"signature"


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


class Hub:
    """An orchestrator over a dict, recording every record it writes."""

    def __init__(self, catalog=CATALOG, calendar: WorkingCalendar | None = None, **settings: Any) -> None:
        self.sagas: dict[str, Any] = {}
        self.sent: list[tuple[str, Envelope]] = []
        self.audit: list[dict[str, Any]] = []  # the entries of audit partition 0
        self.clock = FixedClock(T0)
        self.topics = Topics()
        settings = {
            "payment_secret": "test-secret",
            "audit_key": AUDIT_KEY,
            "keyring": keyring(),
            "kafka_client_properties": "unused.properties",
        } | settings
        self.orchestrator = Orchestrator(
            self.sagas,
            catalog,
            calendar or load_calendar(),
            self.clock,
            HubSettings(**settings),
            self.topics,
            self._send,
            AuditLog(self._audit, self._last_audit, sign, self.clock.now, checkpoint_every=1000),
            self._send_alert,
        )
        self.alerts: list[dict[str, Any]] = []  # hub.monitor.alerts (signed JSON, not envelopes)

    async def _send_alert(self, topic: str, key: bytes, value: bytes) -> None:
        assert topic == self.topics.alerts and key == DOSSIER.encode()
        self.alerts.append(json.loads(value))

    async def _audit(self, partition: int, key: bytes | None, value: bytes) -> None:
        assert partition == 0 and key == DOSSIER.encode()
        self.audit.append(json.loads(value))

    async def _last_audit(self, partition: int) -> bytes | None:
        return json.dumps(self.audit[-1]).encode() if self.audit else None

    async def _send(self, topic: str, key: bytes, value: bytes) -> None:
        envelope = Envelope.from_bytes(value)
        # keyed by dossier code, but exchanges by agency (one agency's health on one partition)
        assert key == (envelope.data["agency"] if topic == self.topics.exchanges else envelope.subject).encode()
        self.sent.append((topic, envelope))

    async def event(self, type_: str, data: Any, source: str = "/hub/sweeper", **extra: Any) -> None:
        """An event on hub.dossier.events as ingest forwards it (``source``: the outbox's agency)."""
        envelope = Envelope(
            source=source,
            type=type_,
            subject=DOSSIER,
            correlationid="corr-1",
            data=data.model_dump(mode="json"),
            **extra,
        )
        await self.orchestrator.handle(envelope.to_bytes(), 0)

    async def file(self, procedure: str, filed_by: str = "portal", catalog=CATALOG) -> None:
        filing = canonical_filing(catalog[procedure], FILINGS[catalog[procedure].filing])
        await self.event(
            DOSSIER_FILED,
            DossierFiled(
                dossier_id=DOSSIER,
                procedure=procedure,
                received_at=T0,
                channel=2,
                filed_by=filed_by,
                filing=filing.model_dump(mode="json"),
            ),
            source=f"/agency/{filed_by}",
        )

    def on(self, topic: str, type_: str | None = None) -> list[Envelope]:
        return [e for t, e in self.sent if t == topic and (type_ is None or e.type == type_)]

    def commands(self, agency: str | None = None) -> list[Envelope]:
        return [
            e for t, e in self.sent if e.type == STEP_COMMAND and (agency is None or t == self.topics.inbox(agency))
        ]

    def command(self, step: str) -> Envelope:
        return [c for c in self.commands() if c.data["step"] == step][-1]

    async def answer(self, step: str, outcome: Outcome = Outcome.SUCCEEDED, reason: str | None = None) -> None:
        sent = self.command(step)
        command = sent.data
        result = RESULTS.get(command["action"], {}) if outcome is Outcome.SUCCEEDED else {}
        await self.event(
            STEP_REPLY,
            StepReply(
                step=step,
                action=command["action"],
                agency=command["agency"],
                outcome=outcome,
                result=result,
                reason=reason,
            ),
            source=f"/agency/{command['agency']}",
            idempotencykey=sent.idempotencykey,
        )

    async def pay(self, step: str, amount: int, reference: str | None = None) -> None:
        await self.event(
            PAYMENT_NOTIFIED,
            PaymentNotification(
                reference=reference or f"{DOSSIER}/{step}",
                transaction_id="TXN-1",
                amount_vnd=amount,
                status="paid",
                paid_at=self.clock.at,
            ),
            source="/agency/payment",
        )

    @property
    def state(self) -> SagaState:
        return SagaState.model_validate(self.sagas[DOSSIER])

    def portal_statuses(self) -> list[int]:
        return [e.data["status"] for e in self.on(self.topics.inbox("portal"), DOSSIER_STATUS)]


async def test_land_transfer_pays_exactly_the_notice_amount_and_finishes_with_the_result():
    hub = Hub()
    await hub.file("land_transfer")
    await hub.answer("verify_transferor")
    await hub.answer("verify_transferee")
    await hub.answer("compute_obligations")
    assert hub.command("collect_obligations").data["params"]["amount_vnd"] == 37_500_000
    with pytest.raises(PaymentMismatch, match="of 1000 VND does not match the 37500000 VND requested"):
        await hub.pay("collect_obligations", 1000)
    with pytest.raises(PaymentMismatch, match="unknown payment reference"):
        await hub.pay("collect_obligations", 37_500_000, reference=f"{DOSSIER}/compute_obligations")
    await hub.pay("collect_obligations", 37_500_000)
    sent = len(hub.sent)
    await hub.pay("collect_obligations", 37_500_000)  # the gateway repeats itself
    assert len(hub.sent) == sent
    assert hub.command("confirm_obligations").data["params"] == {
        "notice_no": "TB-1",
        "transaction_id": "TXN-1",
        "amount_vnd": 37_500_000,
    }
    await hub.answer("confirm_obligations")
    await hub.answer("return_result")
    assert hub.state.status is S.RESULT_RETURNED
    assert hub.portal_statuses() == [
        S.NEWLY_REGISTERED,
        S.ACCEPTED,
        S.PROCESSING,
        S.FINANCIAL_OBLIGATION_REQUESTED,
        S.PROCESSING,
        S.PROCESSED,
        S.RESULT_RETURNED,
    ]
    assert hub.commands("payment")[-1].data["action"] == "collect_payment"  # nothing refunded


async def test_land_transfer_stopped_after_payment_refunds_it():
    hub = Hub()
    await hub.file("land_transfer")
    for step in ("verify_transferor", "verify_transferee", "compute_obligations"):
        await hub.answer(step)
    await hub.pay("collect_obligations", 37_500_000)
    await hub.answer("confirm_obligations", Outcome.REJECTED, "notice already settled")
    assert hub.state.status is S.PROCESSING_STOPPED
    refund = hub.commands("payment")[-1]
    assert refund.data["action"] == "refund_payment"
    assert refund.data["params"] == {"transaction_id": "TXN-1", "amount_vnd": 37_500_000}
    assert refund.idempotencykey == f"{DOSSIER}/collect_obligations/compensate"
    await hub.answer("collect_obligations:compensate")
    assert hub.state.compensations["collect_obligations"].status is StepStatus.SUCCEEDED


async def test_criminal_record_withdrawn_after_paying_refunds_the_fee():
    hub = Hub()
    await hub.file("criminal_record")
    await hub.answer("check_vneid")
    await hub.answer("verify_applicant")
    await hub.pay("collect_fee", 200_000)
    await hub.event(DOSSIER_WITHDRAWN, DossierWithdrawn(reason="no longer needed"), source="/agency/portal")
    assert hub.state.status is S.WITHDRAWN and hub.state.reason == "no longer needed"
    assert [c.data["action"] for c in hub.commands("payment")] == ["collect_payment", "refund_payment"]
    await hub.event(
        DOSSIER_WITHDRAWN, DossierWithdrawn(reason="again"), source="/agency/portal"
    )  # nothing left to withdraw
    assert hub.state.reason == "no longer needed"


async def test_a_payment_arriving_after_the_withdrawal_is_refunded():
    hub = Hub()
    await hub.file("criminal_record")
    await hub.answer("check_vneid")
    await hub.answer("verify_applicant")
    await hub.event(DOSSIER_WITHDRAWN, DossierWithdrawn(), source="/agency/portal")
    assert [c.data["action"] for c in hub.commands("payment")] == ["collect_payment"]
    await hub.pay("collect_fee", 200_000)  # the citizen paid before seeing the withdrawal
    assert hub.state.status is S.WITHDRAWN
    assert [c.data["action"] for c in hub.commands("payment")] == ["collect_payment", "refund_payment"]


PAY_FIRST = validate_procedure(
    {
        "id": "pay_first",
        "title": "Fee first, then an identity check at intake",
        "filing": "criminal_record",
        "deadline_working_days": 2,
        "steps": [
            {
                "id": "collect_fee",
                "agency": "payment",
                "action": "collect_payment",
                "purpose": "fee",
                "inputs": {"amount_vnd": 50_000, "description": "dossier.id"},
                "payment": {"amount_input": "amount_vnd"},
                "compensation": {
                    "action": "refund_payment",
                    "inputs": {
                        "transaction_id": "steps.collect_fee.transaction_id",
                        "amount_vnd": "steps.collect_fee.amount_vnd",
                    },
                },
            },
            {
                "id": "verify_applicant",
                "agency": "population",
                "action": "verify_citizen",
                "purpose": "identity",
                "depends_on": ["collect_fee"],
                "on_failure": "reject",
                "inputs": {"personal_id": "filing.applicant.personal_id", "full_name": "filing.applicant.full_name"},
            },
        ],
    },
    "pay_first.toml",
)


async def test_a_dossier_not_accepted_after_paying_is_refunded():
    catalog = {"pay_first": PAY_FIRST}
    hub = Hub(catalog=catalog)
    await hub.file("pay_first", catalog=catalog)
    await hub.pay("collect_fee", 50_000)
    await hub.answer("verify_applicant", Outcome.REJECTED, "not in the registry")
    assert hub.state.status is S.NOT_ACCEPTED
    assert hub.commands("payment")[-1].data["params"] == {"transaction_id": "TXN-1", "amount_vnd": 50_000}


async def test_death_bundle_without_insurance_declines_the_allowance_and_still_returns_the_result():
    hub = Hub()
    await hub.file("death_bundle")
    for step in ("verify_deceased", "verify_declarant", "register_death", "remove_residence"):
        await hub.answer(step)
    await hub.answer("pay_funeral_allowance", Outcome.REJECTED, "the deceased was not insured")
    await hub.answer("return_result")
    assert hub.state.status is S.RESULT_RETURNED
    assert hub.state.steps["pay_funeral_allowance"].status is StepStatus.DECLINED


async def test_status_updates_go_to_the_portal_and_the_filer_and_every_command_is_audited_by_field_name():
    hub = Hub()
    await hub.file("criminal_record", filed_by="onestop")

    def statuses(agency: str) -> list[dict]:
        return [e.data for e in hub.on(hub.topics.inbox(agency), DOSSIER_STATUS)]

    assert statuses("onestop") == statuses("portal") != []
    assert len(hub.audit) == 1  # one entry for all the filing exchanged
    audits = [AuditRecord.model_validate(x) for e in hub.audit for x in e["exchanges"]]
    commands = [a for a in audits if a.kind == "command"]
    assert [(a.step, a.agency) for a in commands] == [(c.data["step"], c.data["agency"]) for c in hub.commands()]
    assert commands[0].fields == ["minimum_level", "personal_id"]
    assert commands[0].subjects == [subject_ref(AUDIT_KEY.encode(), MOTHER[0])]
    assert sorted(a.agency for a in audits if a.kind == "status") == sorted(
        ["portal", "onestop"] * len(statuses("portal"))
    )
    assert MOTHER[0] not in str(hub.audit) and MOTHER[1] not in str(hub.audit)
    verified = ChainCheck(0, lambda *_: True, max_unsigned=1000)
    assert [verified.feed(offset, json.dumps(e).encode()) for offset, e in enumerate(hub.audit)] == [None]


async def test_a_step_without_a_reply_is_sent_again_until_the_policy_gives_up():
    hub = Hub(retry_give_up_after_h=1)
    await hub.file("criminal_record")
    first = hub.command("check_vneid")
    await hub.event(STEP_TIMEOUT, StepTimeout(step="check_vneid", attempt=1))  # no reply: wait, then again
    assert [c.id for c in hub.commands("population") if c.data["step"] == "check_vneid"] == [first.id]
    hub.clock.at = T0 + timedelta(minutes=1)
    await hub.event(STEP_TIMEOUT, StepTimeout(step="check_vneid", attempt=1))
    again = hub.command("check_vneid")
    assert again.id != first.id and again.idempotencykey == first.idempotencykey
    await hub.event(STEP_TIMEOUT, StepTimeout(step="check_vneid", attempt=1))  # stale: changes nothing
    assert len([c for c in hub.commands("population") if c.data["step"] == "check_vneid"]) == 2
    hub.clock.at = T0 + timedelta(hours=1)
    await hub.event(STEP_TIMEOUT, StepTimeout(step="check_vneid", attempt=2))
    assert hub.state.status is S.PROCESSING_STOPPED
    assert hub.state.reason == "check_vneid (population): gave up after 1 h: no reply from population to attempt 2"


CONTINUE_THEN_DEADLINE = validate_procedure(
    {
        "id": "continue_then_deadline",
        "title": "An optional check, then a step with a deadline",
        "filing": "criminal_record",
        "deadline_working_days": 10,
        "steps": [
            {
                "id": "optional_check",
                "agency": "population",
                "action": "check_vneid_level",
                "purpose": "optional",
                "on_failure": "continue",
                "inputs": {"personal_id": "filing.applicant.personal_id", "minimum_level": 1},
            },
            {
                "id": "verify_applicant",
                "agency": "population",
                "action": "verify_citizen",
                "purpose": "identity",
                "depends_on": ["optional_check"],
                "deadline_working_days": 1,
                "inputs": {"personal_id": "filing.applicant.personal_id", "full_name": "filing.applicant.full_name"},
            },
        ],
    },
    "continue_then_deadline.toml",
)


async def test_a_timed_out_optional_step_dates_the_next_step_with_the_configured_holidays():
    """Regression: the timeout path once fell back to the shipped holidays, not the configured ones."""
    catalog = {"continue_then_deadline": CONTINUE_THEN_DEADLINE}
    monday = date(2026, 11, 23)
    hub = Hub(catalog=catalog, calendar=WorkingCalendar(days_off=frozenset({monday})), retry_give_up_after_h=1)
    await hub.file("continue_then_deadline", catalog=catalog)
    hub.clock.at = T0 + timedelta(hours=8)
    await hub.event(STEP_TIMEOUT, StepTimeout(step="optional_check", attempt=1))  # retried later
    hub.clock.at = T0 + timedelta(hours=9)  # Friday 17:00 in Vietnam, after the cut-off
    await hub.event(STEP_TIMEOUT, StepTimeout(step="optional_check", attempt=1))  # sent again
    await hub.event(STEP_TIMEOUT, StepTimeout(step="optional_check", attempt=2))  # given up: declined
    # Counted from the next working day: Monday is a configured day off and Tuesday is Vietnam
    # Cultural Day, so Wednesday.
    assert hub.state.steps["verify_applicant"].due_date == date(2026, 11, 25)


async def test_an_overdue_dossier_gets_one_apology_with_a_new_date_from_the_template():
    hub = Hub()
    await hub.file("criminal_record")
    hub.clock.at = T0 + timedelta(days=30)
    await hub.event("vn.lienthong.deadline.passed", DeadlinePassed())
    await hub.event("vn.lienthong.deadline.passed", DeadlinePassed())  # once only
    notices = hub.on(hub.topics.inbox("portal"), DOSSIER_OVERDUE)
    assert len(notices) == 1
    notice = notices[0].data
    assert notice["apology"].startswith(f"Hồ sơ {DOSSIER} đã quá hạn giải quyết ngày {notice['due_date']}.")
    assert notice["new_due_date"] in notice["apology"]
    (alert,) = hub.alerts  # and operators are told, once, what to do
    assert (alert["kind"], alert["subject"]) == ("dossier_overdue", DOSSIER)
    assert notice["due_date"] in alert["message"] and "lienthong status" in alert["action"]


async def test_operators_get_one_monitor_record_per_event_with_its_transitions_in_order():
    hub = Hub()
    await hub.file("criminal_record")
    (record,) = hub.on(hub.topics.monitor)  # one event, one record
    changes = Transitions.model_validate(record.data).transitions
    assert len(changes) > 1 and changes[0].status is S.NEWLY_REGISTERED
    assert all(t.dossier_id == DOSSIER for t in changes)


async def test_a_step_without_a_reply_raises_one_step_stuck_alert_naming_the_agency():
    catalog = {"continue_then_deadline": CONTINUE_THEN_DEADLINE}
    hub = Hub(catalog=catalog)
    await hub.file("continue_then_deadline", catalog=catalog)
    hub.clock.at = T0 + timedelta(hours=1)
    await hub.event(STEP_TIMEOUT, StepTimeout(step="optional_check", attempt=1))
    (alert,) = hub.alerts
    assert (alert["kind"], alert["subject"]) == ("step_stuck", DOSSIER)
    assert "did not answer optional_check (attempt 1) within 3600 s" in alert["message"]


@pytest.mark.parametrize(
    ("type_", "data", "reason"),
    [
        ("vn.lienthong.unknown", {}, "unexpected event type 'vn.lienthong.unknown'"),
        (STEP_REPLY, {"step": "x"}, "invalid vn.lienthong.step.reply: action: Field required"),
        (
            STEP_REPLY,
            {"step": "x", "action": "y", "agency": "tax", "outcome": "succeeded"},
            "vn.lienthong.step.reply for a dossier the hub does not know",
        ),
        (
            PAYMENT_NOTIFIED,
            {
                "reference": f"{DOSSIER}/collect_fee",
                "transaction_id": "T",
                "amount_vnd": 1,
                "status": "paid",
                "paid_at": "2026-11-20T00:00:00Z",
            },
            f"unknown payment reference '{DOSSIER}/collect_fee'",
        ),
    ],
)
async def test_what_no_saga_can_apply_is_refused_with_the_reason(type_, data, reason):
    hub = Hub()
    raw = Envelope(source="/test", type=type_, subject=DOSSIER, correlationid="c", data=data).to_bytes()
    with pytest.raises(Unprocessable) as info:
        await hub.orchestrator.handle(raw, 0)
    assert str(info.value).startswith(reason)
    assert hub.sent == [] and hub.sagas == {}


async def test_a_filing_for_an_unknown_procedure_or_twice_for_one_dossier():
    hub = Hub()
    with pytest.raises(Unprocessable, match="unknown procedure 'marriage'"):
        await hub.event(
            DOSSIER_FILED,
            DossierFiled(
                dossier_id=DOSSIER, procedure="marriage", received_at=T0, channel=2, filed_by="portal", filing={}
            ),
        )
    await hub.file("criminal_record")
    sent = len(hub.sent)
    await hub.file("criminal_record")
    assert len(hub.sent) == sent
    with pytest.raises(Unprocessable, match="invalid envelope"):
        await hub.orchestrator.handle(b"not json", 0)


@pytest.mark.parametrize("filer", ["portal", "onestop"])
async def test_a_second_filing_with_other_content_is_refused_to_its_filer(filer):
    hub = Hub()
    await hub.file("criminal_record")
    state, sent = hub.sagas[DOSSIER], len(hub.sent)
    with pytest.raises(FilingConflict, match=f"dossier code {DOSSIER} was already filed with other content") as info:
        await hub.file("land_transfer", filed_by=filer)  # the same code, another dossier
    assert info.value.code == "filing_conflict"  # the agent dead-letters it with this code
    (notice,) = hub.sent[sent:]
    assert notice[0] == hub.topics.inbox(filer) and notice[1].type == FILING_REFUSED
    refused = notice[1].payload(FilingRefused)
    assert refused.procedure == "land_transfer" and "file under a new code" in refused.reason
    assert hub.sagas[DOSSIER] == state  # the first dossier goes on untouched


# --- who may say what ------------------------------------------------------------------------------


async def land_transfer_awaiting_payment() -> Hub:
    hub = Hub()
    await hub.file("land_transfer")
    for step in ("verify_transferor", "verify_transferee", "compute_obligations"):
        await hub.answer(step)
    return hub


async def refused_and_nothing_changed(hub: Hub, reason: str, type_: str, data: Any, **envelope: Any) -> None:
    before, sent = dict(hub.sagas), len(hub.sent)
    with pytest.raises(Unprocessable, match=reason):
        await hub.event(type_, data, **envelope)
    assert hub.sagas == before and len(hub.sent) == sent


def forged_payment(agency: str = "tax") -> StepReply:
    return StepReply(
        step="collect_obligations",
        action="collect_payment",
        agency=agency,
        outcome=Outcome.SUCCEEDED,
        result={"transaction_id": "FAKE", "amount_vnd": 1, "paid_at": "2026-11-20T02:00:00Z"},
    )


async def test_a_payment_forged_as_a_reply_on_another_agency_outbox_is_refused():
    hub = await land_transfer_awaiting_payment()
    key = hub.command("collect_obligations").idempotencykey
    await refused_and_nothing_changed(
        hub,
        "reply for collect_obligations from tax: the step was sent to payment",
        STEP_REPLY,
        forged_payment(),
        source="/agency/tax",
        idempotencykey=key,
    )
    # Even on the payment agency's own outbox, a payment step succeeds only by the gateway's notification.
    await refused_and_nothing_changed(
        hub,
        "collect_obligations is a payment: it succeeds only by the gateway's verified notification",
        STEP_REPLY,
        forged_payment("payment"),
        source="/agency/payment",
        idempotencykey=key,
    )
    assert hub.commands("tax")[-1].data["action"] == "compute_land_obligations"  # no confirm_obligations


async def test_a_reply_counts_only_for_the_action_and_the_key_the_step_was_sent_with():
    hub = Hub()
    await hub.file("land_transfer")
    sent = hub.command("verify_transferor")
    reply = StepReply(
        step="verify_transferor",
        action="verify_citizen",
        agency="population",
        outcome=Outcome.SUCCEEDED,
        result=RESULTS["verify_citizen"],
    )
    await refused_and_nothing_changed(
        hub,
        "names action 'assign_personal_id'",
        STEP_REPLY,
        reply.model_copy(update={"action": "assign_personal_id"}),
        source="/agency/population",
        idempotencykey=sent.idempotencykey,
    )
    await refused_and_nothing_changed(
        hub,
        f"under idempotency key None; the step was sent '{sent.idempotencykey}'",
        STEP_REPLY,
        reply,
        source="/agency/population",
    )
    await refused_and_nothing_changed(
        hub,
        "reply for 'issue_passport', which is not a step of land_transfer",
        STEP_REPLY,
        reply.model_copy(update={"step": "issue_passport"}),
        source="/agency/population",
        idempotencykey=sent.idempotencykey,
    )
    await hub.answer("verify_transferor")  # the right agency, action and key
    assert hub.state.steps["verify_transferor"].status is StepStatus.SUCCEEDED


async def test_only_the_filer_or_the_portal_may_withdraw_a_dossier():
    hub = Hub()
    await hub.file("criminal_record", filed_by="onestop")
    await refused_and_nothing_changed(
        hub,
        "justice may not withdraw a criminal_record dossier filed by onestop",
        DOSSIER_WITHDRAWN,
        DossierWithdrawn(),
        source="/agency/justice",
    )
    await hub.event(DOSSIER_WITHDRAWN, DossierWithdrawn(), source="/agency/portal")  # the citizen, on the portal
    assert hub.state.status is S.WITHDRAWN


async def test_the_filer_may_withdraw_its_own_dossier_and_no_other_filer_may():
    hub = Hub()
    await hub.file("criminal_record", filed_by="justice")
    await refused_and_nothing_changed(
        hub,
        "onestop may not withdraw a criminal_record dossier filed by justice",
        DOSSIER_WITHDRAWN,
        DossierWithdrawn(),
        source="/agency/onestop",
    )
    await hub.event(DOSSIER_WITHDRAWN, DossierWithdrawn(), source="/agency/justice")
    assert hub.state.status is S.WITHDRAWN


async def test_payments_come_only_from_the_gateway_and_timers_only_from_the_hub():
    hub = await land_transfer_awaiting_payment()
    notification = PaymentNotification(
        reference=f"{DOSSIER}/collect_obligations",
        transaction_id="TXN-1",
        amount_vnd=37_500_000,
        status="paid",
        paid_at=T0,
    )
    await refused_and_nothing_changed(
        hub,
        "from /agency/portal, which does not notify payments",
        PAYMENT_NOTIFIED,
        notification,
        source="/agency/portal",
    )
    await refused_and_nothing_changed(
        hub,
        "comes only from the hub, not from /agency/population",
        STEP_TIMEOUT,
        StepTimeout(step="collect_obligations", attempt=1),
        source="/agency/population",
    )


async def test_status_reasons_carry_no_personal_id_name_or_birth_date():
    hub = Hub()
    await hub.file("land_transfer")
    await hub.answer(
        "verify_transferor",
        Outcome.REJECTED,
        f"personal ID {FATHER[0]} ({FATHER[1].upper()}, born 05/05/1995) is not in the population registry; "
        "also 079201000999",
    )
    reason = hub.state.reason
    assert reason == (
        "verify_transferor (population): personal ID *** (***, born **/**/****) is not in the population registry; "
        "also 079******999"
    )
    published = [e.data for t, e in hub.sent if t != hub.topics.inbox("population")]
    assert FATHER[0] not in str(published) and FATHER[1] not in str(published) and "1995" not in str(published)


async def test_a_finished_saga_is_forgotten_after_its_retention_and_only_at_the_hubs_word():
    hub = Hub()
    await hub.file("criminal_record")
    await hub.event(DOSSIER_WITHDRAWN, DossierWithdrawn(), source="/agency/portal")
    hub.clock.at = T0 + timedelta(days=29)
    await hub.event(SAGA_EXPIRED, SagaExpired())
    assert DOSSIER in hub.sagas  # too early
    hub.clock.at = T0 + timedelta(days=30)
    await refused_and_nothing_changed(
        hub, "comes only from the hub", SAGA_EXPIRED, SagaExpired(), source="/agency/portal"
    )
    await hub.event(SAGA_EXPIRED, SagaExpired())
    assert DOSSIER not in hub.sagas


async def test_the_saga_keeps_only_the_result_fields_a_later_step_reads():
    hub = Hub()
    await hub.file("land_transfer")
    await hub.answer("verify_transferor")  # the registry's record: name, birth date, sex, commune
    assert hub.state.steps["verify_transferor"].result == {}
    for step in ("verify_transferee", "compute_obligations"):
        await hub.answer(step)
    assert hub.state.steps["compute_obligations"].result == {"notice_no": "TB-1", "total_vnd": 37_500_000}


async def test_an_event_processed_again_after_a_crash_emits_records_a_consumer_recognises():
    filing = canonical_filing(CATALOG["criminal_record"], FILINGS["criminal_record"])
    cause = Envelope(
        source="/agency/portal",
        type=DOSSIER_FILED,
        subject=DOSSIER,
        correlationid="corr-1",
        data=DossierFiled(
            dossier_id=DOSSIER,
            procedure="criminal_record",
            received_at=T0,
            channel=2,
            filed_by="portal",
            filing=filing.model_dump(mode="json"),
        ).model_dump(mode="json"),
    ).to_bytes()
    first, restarted = Hub(), Hub()  # the second never saw the first's table write: it crashed
    await first.orchestrator.handle(cause, 0)
    await restarted.orchestrator.handle(cause, 0)
    ids = [e.id for _, e in first.sent]
    assert len(ids) == len(set(ids)) > 3 and ids == [e.id for _, e in restarted.sent]
    other = Hub()
    await other.file("criminal_record")  # another filing event: other ids
    assert not set(ids) & {e.id for _, e in other.sent}


async def test_every_exchange_with_an_agency_is_recorded_by_agency_without_personal_data():
    hub = Hub(retry_first_delay_s=1)
    await hub.file("criminal_record")
    await hub.answer("check_vneid", Outcome.FAILED, reason="HTTP 503")
    hub.clock.at = T0 + timedelta(seconds=2)
    await hub.event(STEP_TIMEOUT, StepTimeout(step="check_vneid", attempt=1))  # sent again
    hub.clock.at = T0 + timedelta(seconds=70)
    await hub.event(STEP_TIMEOUT, StepTimeout(step="check_vneid", attempt=2))  # no reply in time
    await hub.answer("verify_applicant")
    exchanges = [(t, e.data) for t, e in hub.sent if t == hub.topics.exchanges]
    assert [(d["step"], d["agency"], d["attempt"], d["outcome"]) for _, d in exchanges] == [
        ("check_vneid", "population", 1, "failed"),
        ("check_vneid", "population", 2, "no_reply"),
        ("verify_applicant", "population", 1, "succeeded"),
    ]
    no_reply, succeeded = exchanges[1][1], exchanges[2][1]
    assert (no_reply["duration_ms"], no_reply["response_bytes"]) == (68_000, 0)
    assert succeeded["request_bytes"] > 0 and succeeded["response_bytes"] > 0
    assert MOTHER[0] not in str(exchanges) and "Trần" not in str(exchanges)


async def test_a_saga_reads_back_from_its_changelog_record_as_the_state_the_worker_held():
    hub = Hub()
    await hub.file("land_transfer")
    await hub.answer("verify_transferor")
    held = hub.sagas[DOSSIER]
    record = SagaCodec().dumps(held)  # what the saga table writes to its changelog
    assert json.loads(record)["steps"]["verify_transferor"]["status"] == "succeeded"
    assert SagaCodec().loads(record) == held  # what a worker taking the partition over restores
