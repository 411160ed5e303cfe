"""Event and command payloads (the ``data`` of an :class:`~contracts.envelope.Envelope`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.dates import VIETNAM_TIME
from contracts.identifiers import DossierCode
from contracts.status import Channel, DossierStatus

EARLIEST_RECEIPT = datetime(2000, 1, 1, tzinfo=UTC)
RECEIPT_CLOCK_SKEW = timedelta(days=1)
"""How far in the future a receipt time may be (clocks of filing systems differ); beyond it, a
typo such as year 9999 is refused before any deadline is computed from it."""

# Event types (the envelope's ``type``).
DOSSIER_FILED = "vn.lienthong.dossier.filed"
STEP_COMMAND = "vn.lienthong.step.command"
STEP_REPLY = "vn.lienthong.step.reply"
STEP_TIMEOUT = "vn.lienthong.step.timeout"
DEADLINE_PASSED = "vn.lienthong.deadline.passed"
SAGA_EXPIRED = "vn.lienthong.saga.expired"
DOSSIER_OVERDUE = "vn.lienthong.dossier.overdue"
DOSSIER_WITHDRAWN = "vn.lienthong.dossier.withdrawn"
DOSSIER_SUPPLEMENTED = "vn.lienthong.dossier.supplemented"
PAYMENT_NOTIFIED = "vn.lienthong.payment.notified"
DOSSIER_STATUS = "vn.lienthong.dossier.status"
FILING_REFUSED = "vn.lienthong.filing.refused"
TRANSITIONS = "vn.lienthong.monitor.transitions"
EXCHANGE = "vn.lienthong.monitor.exchange"
AGENCY_HEALTH = "vn.lienthong.monitor.agency_health"
ALERT = "vn.lienthong.monitor.alert"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DossierFiled(_Model):
    """A dossier (hồ sơ) entered the hub: the saga for ``procedure`` starts from it."""

    dossier_id: DossierCode
    procedure: str
    received_at: datetime
    channel: Channel
    filed_by: str = Field(description="Agency code of the filing system")
    filing: dict[str, Any] = Field(description="The canonical filing, validated by its procedure")

    @field_validator("received_at")
    @classmethod
    def _received_in_the_past(cls, value: datetime) -> datetime:
        moment = value if value.tzinfo else value.replace(tzinfo=VIETNAM_TIME)
        if not EARLIEST_RECEIPT <= moment <= datetime.now(UTC) + RECEIPT_CLOCK_SKEW:
            raise ValueError(
                f"a dossier is received between {EARLIEST_RECEIPT.year} and now, not at {value.isoformat()}"
            )
        return value


class StepCommand(_Model):
    """Ask an agency to perform one step. ``params`` hold only the fields that step needs."""

    step: str
    action: str
    agency: str
    params: dict[str, Any]
    purpose: str = Field(description="Why this agency receives these fields (purpose limitation)")
    supplement: dict[str, str] = Field(
        default_factory=dict, description="Documents the citizen added after the agency asked for them"
    )


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"  # the agency refused on the facts (unknown citizen, ineligible…)
    FAILED = "failed"  # the exchange failed technically: the hub sends the command again later
    DOCUMENTS_REQUESTED = "documents_requested"  # the agency needs more documents (reason says which)


class StepReply(_Model):
    """An agency's answer to a :class:`StepCommand`."""

    step: str
    action: str
    agency: str
    outcome: Outcome
    result: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None


class StepTimeout(_Model):
    """The timer of attempt ``attempt`` of ``step`` ran out: no reply came in time, or the time to
    send it again after a technical failure came (emitted by the hub's sweeper)."""

    step: str
    attempt: int = Field(ge=1)


class DossierWithdrawn(_Model):
    """The citizen withdraws the dossier (công dân yêu cầu rút hồ sơ), sent by the portal."""

    reason: str = Field(default="withdrawn at the citizen's request", max_length=500)


class DossierSupplemented(_Model):
    """The citizen supplied the documents an agency asked for, sent by the portal."""

    documents: dict[str, str] = Field(min_length=1, description="Document name -> reference or content")


class PaymentNotification(_Model):
    """The payment gateway says a payment request was paid (body of its signed callback)."""

    reference: str = Field(description="<dossier code>/<step>: the idempotency key of the collect_payment command")
    transaction_id: str = Field(min_length=1)
    amount_vnd: int = Field(gt=0)
    status: Literal["paid"]
    paid_at: datetime

    @property
    def dossier_id(self) -> str:
        return self.reference.split("/")[0]

    @property
    def step(self) -> str:
        return self.reference.split("/")[1] if self.reference.count("/") >= 1 else ""


class SagaExpired(_Model):
    """A finished dossier's retention may have passed: forget its saga (emitted by the sweeper)."""


class DeadlinePassed(_Model):
    """The dossier (``step`` None) or a step may be past its due date (emitted by the sweeper)."""

    step: str | None = None


class OverdueNotice(_Model):
    """Phiếu xin lỗi và hẹn lại ngày trả kết quả: the apology and new date for a late dossier."""

    dossier_id: DossierCode
    procedure: str
    due_date: date
    new_due_date: date
    apology: str


class FilingRefused(_Model):
    """A filing the hub did not take, told to the agency that filed it: a field wrong, a procedure
    it may not file, or a dossier code already filed with other content (file under a new code)."""

    dossier_id: DossierCode
    procedure: str
    reason: str


class StatusUpdate(_Model):
    """A dossier's portal status changed (sent to the portal and to the filing agency)."""

    dossier_id: DossierCode
    procedure: str
    status: DossierStatus
    label: str
    reason: str | None = None
    result: dict[str, Any] = Field(default_factory=dict, description="Results returned to the citizen")


class Transition(_Model):
    """An operator-facing record of one state change of a dossier or of one of its steps."""

    dossier_id: DossierCode
    procedure: str
    step: str | None = None
    agency: str | None = None
    state: str = Field(description="New state: filed/running/succeeded/rejected/failed/skipped or a status label")
    status: DossierStatus | None = None
    reason: str | None = None
    at: datetime
    duration_ms: int | None = Field(default=None, description="Time the step took, when it ends")


class Transitions(_Model):
    """What one event changed, in order: one ``hub.monitor.transitions`` record per event the hub
    applied, not one per transition."""

    transitions: list[Transition] = Field(min_length=1)


class Exchange(_Model):
    """One exchange with an agency, as X-Road's operational monitoring records it: a command sent and
    what came of it. Sizes and outcomes only: no field values, no personal data."""

    dossier_id: DossierCode
    procedure: str
    step: str = Field(description="The step, or <step>:compensate for the command that undoes it")
    agency: str
    action: str
    attempt: int = Field(ge=1, description="Sends of this command so far, this one included")
    sent_at: datetime
    answered_at: datetime = Field(description="When the answer (or the end of the wait for one) was applied")
    duration_ms: int = Field(ge=0)
    outcome: Literal["succeeded", "rejected", "documents_requested", "failed", "no_reply"]
    request_bytes: int = Field(ge=0, description="Size of the command's parameters as JSON")
    response_bytes: int = Field(ge=0, description="Size of the answer's result as JSON (0 without one)")


class AgencyHealth(_Model):
    """One agency's exchanges in one window of time (``hub.monitor.agencies``)."""

    agency: str
    window_start: datetime
    window_end: datetime
    calls: int = Field(ge=0, description="Exchanges that ended in the window")
    succeeded: int = Field(ge=0)
    refused: int = Field(ge=0, description="Business answers other than success: rejected, documents requested")
    failed: int = Field(ge=0, description="Technical failures, open circuits included")
    no_reply: int = Field(ge=0)
    p50_ms: int = Field(ge=0, description="Median duration, to the upper bound of its histogram bucket")
    p95_ms: int = Field(ge=0)
    failing: bool = Field(
        description="At least half the exchanges (and at least 3) failed or got no reply; right after a failing "
        "window, also fewer exchanges that all failed"
    )


class Alert(_Model):
    """Something an operator should act on (``hub.monitor.alerts``): what it is about and what to do."""

    kind: Literal["agency_failing", "dossier_overdue", "step_stuck", "dead_letters"]
    subject: str = Field(description="The agency, the dossier code, or the dead-letter stage it is about")
    agency: str | None = Field(
        default=None, description="The agency it concerns (agency_failing, step_stuck), to group alerts by"
    )
    message: str
    action: str = Field(description="What to do (docs/operations.md, the runbook, says more)")
    at: datetime


class AuditRecord(_Model):
    """One exchange of personal data with an agency: a command sent, a reply received or a status
    update sent. Field names, never values; people only as pseudonyms (``contracts.audit``)."""

    kind: Literal["command", "reply", "status"]
    dossier_id: DossierCode
    agency: str = Field(description="Who received the data (command, status) or sent it (reply)")
    action: str | None = None
    step: str | None = None
    fields: list[str] = Field(description="Names of the fields exchanged, never their values")
    purpose: str | None = Field(default=None, description="Why the agency receives these fields (commands)")
    outcome: Outcome | None = Field(default=None, description="The reply's outcome")
    subjects: list[str] = Field(
        default_factory=list, description="HMAC-SHA256 under the audit key of each personal ID in the data"
    )
    at: datetime
