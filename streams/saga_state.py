"""The saga's state: frozen, typed models, stored as JSON in the changelog-backed table.

A transition never changes a state; it builds a new one (``model_copy``), so the table keeps the
old state until the new one is stored.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.status import DossierStatus


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"  # its skip_unless condition did not hold
    DECLINED = "declined"  # refused or failed, but the procedure says the dossier goes on
    REJECTED = "rejected"  # the agency refused on the facts
    FAILED = "failed"  # the exchange failed technically, or no valid reply came
    AWAITING_DOCUMENTS = "awaiting_documents"  # on hold until the citizen supplies documents
    CANCELLED = "cancelled"  # the dossier ended before the step ran
    MANUAL_REVERSAL = "manual_reversal"  # (a compensation) no message undoes it: an officer must


DONE_OK = frozenset({StepStatus.SUCCEEDED, StepStatus.SKIPPED, StepStatus.DECLINED})
"""A step in one of these lets the steps that depend on it start."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepState(_Frozen):
    status: StepStatus = StepStatus.PENDING
    started_at: datetime | None = None
    sent_at: datetime | None = None  # the latest dispatch, for the reply timeout
    attempt: int = 0  # sends of the current round
    retry_at: datetime | None = None  # failed technically: send again at this time
    failing_since: datetime | None = None  # the first technical failure of the current round
    gave_up_at: datetime | None = None  # failed for good after the retry policy gave up
    finished_at: datetime | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None
    due_date: date | None = None
    overdue: bool = False
    round: int = 1  # documents rounds; each has its own idempotency key
    supplement: dict[str, str] | None = None

    def duration_ms(self, until: datetime) -> int | None:
        if self.started_at is None:
            return None
        return int((until - self.started_at).total_seconds() * 1000)


class CompensationState(_Frozen):
    status: StepStatus
    reason: str | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    sent_at: datetime | None = None  # the latest dispatch, for the reply timeout
    attempt: int = 1
    retry_at: datetime | None = None
    failing_since: datetime | None = None


class SagaState(_Frozen):
    dossier_id: str
    procedure: str
    correlation_id: str
    filed_by: str
    received_at: datetime
    due_date: date
    overdue: bool = False
    new_due_date: date | None = None  # promised in the apology once overdue
    filing: dict[str, Any]
    status: DossierStatus
    reason: str | None = None
    done: bool = False
    finished_at: datetime | None = None  # when it ended; it is forgotten a retention period later
    steps: dict[str, StepState]
    compensations: dict[str, CompensationState] = Field(default_factory=dict)
