"""One saga per dossier: a pure state machine over a procedure definition.

The saga neither reads Kafka nor writes it. Each transition takes the procedure, the stored
:class:`~streams.saga_state.SagaState` (frozen), the event's payload and a :class:`Context` (the
time, the working calendar, the policies: all required), and returns a new state plus the effects
to carry out: commands to dispatch, status changes, overdue flags, and step transitions for the
monitoring topic. :mod:`streams.router` picks the transition; :mod:`streams.effects` turns the
effects into records. The engine names no procedure and no action: what is special about a step
(a payment completed by callback, a compensation) is declared in its procedure file.

Rules, the same for every procedure:

* filing → status 1; once every intake step (``on_failure = "reject"``) has succeeded → status 2;
* a step starts when all its dependencies succeeded or were skipped; steps with no dependency
  between them are dispatched together, so they run in parallel;
* a step's ``status_on_start`` moves the dossier forward (e.g. 4 processing, 9 processed);
* all steps done → status 10 (result returned);
* a step with ``on_failure = "continue"`` that is refused or fails is recorded as declined and
  the dossier goes on (e.g. no funeral allowance because the deceased was not insured);
* an intake step the agency refuses (``rejected``) → status 3 (not accepted); any other refusal
  → status 8 (stopped); pending steps are cancelled and late replies are recorded without moving
  the dossier;
* a technical failure (``failed``: transport error, 5xx, open circuit) or no reply in time never
  ends a step: it is sent again with the same idempotency key (the agency performs it at most
  once) after a delay that doubles per failure, with jitter, under the agency's
  :class:`~contracts.retry.RetryPolicy`; only when the policy gives up does the step fail (→ 8).
  The dossier's deadline keeps running meanwhile, so the overdue notice still fires;
* a success that arrives after the hub gave up on the step stands (``late_success``); if the
  dossier ended without a result, it is undone like any other succeeded step;
* an agency that asks for more documents puts the step on hold and the dossier in status 5;
  when the citizen supplies them the step is sent again (a new round, so a new idempotency key)
  with the documents, and the dossier returns to 4;
* a citizen's withdrawal before the end → status 7; pending and held steps are cancelled;
* when a dossier ends without a result (3, 7, 8), every succeeded step that declares a
  compensation is undone, latest first (e.g. a payment refunded) — also a step whose success
  arrives after the end; a compensation that fails technically is retried like a step; a step
  declared ``manual_reversal`` (no message undoes it) is flagged for an officer instead;
* a reply counts only from the agency the step was sent to, for the step's action, under the
  idempotency key it was sent with (:func:`admit_reply`); a withdrawal or supplement only from
  the filer or an agency acting on the citizen's behalf (:func:`admit_request`); anything else
  is refused (dead-lettered) and changes nothing;
* a reply for a step that is not running is a duplicate and changes nothing;
* a step declaring ``payment`` completes only when the gateway notifies a payment under the
  step's idempotency key for exactly the amount of its ``amount_input``, never by a reply; a
  repeat changes nothing;
* free text from outside (agencies' reasons, citizens' reasons) is stored and passed on only
  redacted: no personal ID, name or date of birth of the dossier's people, no date at all;
* a saga is forgotten (deleted, a tombstone in the changelog) once it ended more than the
  retention period ago and waits on no compensation; its audit records remain;
* the dossier is due at the end of the procedure's deadline in working days from receipt, a step
  at the end of its own deadline from dispatch; once the due day has passed the dossier (or step)
  is flagged overdue, once, and an overdue dossier gets an apology with a new date.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from contracts.actions import ACTIONS
from contracts.agencies import AGENCIES
from contracts.catalog import Procedure, StepDef
from contracts.envelope import describe_error
from contracts.errors import NotEntitled, PaymentMismatch, Unprocessable
from contracts.events import (
    DeadlinePassed,
    DossierFiled,
    DossierSupplemented,
    DossierWithdrawn,
    Outcome,
    PaymentNotification,
    StepReply,
    StepTimeout,
)
from contracts.paths import build_params, resolve
from contracts.redact import personal_values, redact
from contracts.retry import RetryPolicy
from contracts.status import DossierStatus
from contracts.working_days import WorkingCalendar
from streams.saga_state import DONE_OK, CompensationState, SagaState, StepState, StepStatus

COMPENSATE = ":compensate"  # suffix of the step name a compensation command and its reply carry
# Step transitions that are not stored statuses:
REDISPATCHED = "redispatched"  # sent again, after a technical failure or no reply
RETRYING = "retrying"  # failed technically; will be sent again after a delay
LATE_SUCCESS = "late_success"  # succeeded after the hub had given up on it
NO_REPLY = "no_reply"  # an exchange's outcome when the reply timeout ran out
ATTENTION_FREE = frozenset({StepStatus.RUNNING, StepStatus.SUCCEEDED, StepStatus.SKIPPED})
"""Step transitions that need no operator's attention."""
_OUTCOME_STATUS = {
    Outcome.SUCCEEDED: StepStatus.SUCCEEDED,
    Outcome.REJECTED: StepStatus.REJECTED,
    Outcome.FAILED: StepStatus.FAILED,
    Outcome.DOCUMENTS_REQUESTED: StepStatus.FAILED,
}


@dataclass(frozen=True)
class Context:
    """What every transition is judged against: the time, the working calendar, the policies."""

    now: datetime
    calendar: WorkingCalendar
    retry: Mapping[str, RetryPolicy]  # each agency's retry policy, by code
    apology_extension_days: float  # working days promised in an overdue dossier's apology
    saga_retention_days: float  # a finished saga is forgotten this long after it ended


@dataclass(frozen=True)
class Dispatch:
    """Send a command for ``step`` to its agency."""

    step: str
    agency: str
    action: str
    params: dict[str, Any]
    purpose: str
    idempotency_key: str
    supplement: dict[str, str] | None = None


@dataclass(frozen=True)
class StatusChange:
    status: DossierStatus
    reason: str | None = None


@dataclass(frozen=True)
class Overdue:
    """The dossier (``step`` None) or one of its steps passed its due date."""

    step: str | None
    agency: str | None
    due_date: str
    new_due_date: str | None = None  # for the dossier: the date promised in the apology


@dataclass(frozen=True)
class StepTransition:
    step: str
    agency: str
    state: str  # a StepStatus value, REDISPATCHED, RETRYING or LATE_SUCCESS
    reason: str | None = None
    duration_ms: int | None = None


@dataclass(frozen=True)
class Exchanged:
    """A command's exchange with its agency ended: answered, or given up waiting for."""

    step: str
    agency: str
    action: str
    attempt: int
    sent_at: datetime
    outcome: str  # an Outcome value, or NO_REPLY
    request_bytes: int
    response_bytes: int


@dataclass(frozen=True)
class Stuck:
    """A step got no reply within its reply timeout, the first time in a run of failures."""

    step: str
    agency: str
    attempt: int
    waited_s: float


Effect = Dispatch | StatusChange | StepTransition | Overdue | Exchanged | Stuck
Result = tuple[SagaState, list[Effect]]


def idempotency_key(dossier_id: str, step_id: str, round_: int = 1) -> str:
    """The key an agency uses to perform a step's effect at most once (per documents round)."""
    return f"{dossier_id}/{step_id}" + (f"/r{round_}" if round_ > 1 else "")


def compensation_key(dossier_id: str, step_id: str) -> str:
    """The idempotency key of the command that undoes ``step_id``."""
    return f"{dossier_id}/{step_id}/compensate"


class _Transition:
    """One transition in progress: replaces frozen values as it goes and collects the effects."""

    def __init__(self, proc: Procedure, state: SagaState, ctx: Context) -> None:
        self.proc, self.state, self.ctx = proc, state, ctx
        self.effects: list[Effect] = []

    def result(self) -> Result:
        return self.state, self.effects

    def update(self, **changes: Any) -> None:
        self.state = self.state.model_copy(update=changes)

    def update_step(self, step_id: str, **changes: Any) -> StepState:
        new = self.state.steps[step_id].model_copy(update=changes)
        self.update(steps=self.state.steps | {step_id: new})
        return new

    def emit(self, effect: Effect) -> None:
        self.effects.append(effect)

    def set_status(self, status: DossierStatus, reason: str | None = None) -> None:
        self.update(status=status, reason=reason)
        self.emit(StatusChange(status, reason))

    def lookup(self) -> Callable[[str], Any]:
        """Reads source paths (``filing.…``, ``steps.<id>.…``, ``dossier.…``) of the dossier as it is now."""
        state = self.state
        dossier = {"id": state.dossier_id, "procedure": state.procedure, "received_at": state.received_at.isoformat()}
        results = {step_id: s.result for step_id, s in state.steps.items()}
        return lambda path: resolve(path, dossier, state.filing, results)

    def params(self, step: StepDef, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        """The step's inputs (or ``inputs``), and nothing else, resolved against this dossier."""
        return build_params(step.inputs if inputs is None else inputs, self.lookup())

    def dispatch(self, step: StepDef) -> None:
        s = self.state.steps[step.id]
        self.emit(
            Dispatch(
                step.id,
                step.agency,
                step.action,
                self.params(step),
                step.purpose,
                idempotency_key(self.state.dossier_id, step.id, s.round),
                s.supplement,
            )
        )

    def accept_when_intake_done(self) -> None:
        """Status 2 once every intake step is done (succeeded, skipped or declined)."""
        steps = self.state.steps
        if self.state.status == DossierStatus.NEWLY_REGISTERED and all(
            steps[s].status in DONE_OK for s in self.proc.intake_steps
        ):
            self.set_status(DossierStatus.ACCEPTED)

    def advance(self) -> None:
        """Start every step whose dependencies are done; finish the dossier when all are."""
        now, progressed = self.ctx.now, True
        while progressed:
            progressed = False
            self.accept_when_intake_done()
            for step in self.proc.steps:
                steps = self.state.steps
                if steps[step.id].status != StepStatus.PENDING or not all(
                    steps[d].status in DONE_OK for d in step.depends_on
                ):
                    continue
                progressed = True
                if step.skip_unless and not self.lookup()(step.skip_unless):
                    self.update_step(step.id, status=StepStatus.SKIPPED, finished_at=now)
                    self.emit(StepTransition(step.id, step.agency, StepStatus.SKIPPED))
                    self.accept_when_intake_done()  # a skipped intake step may complete the intake
                    continue
                if (
                    step.status_on_start
                    and step.status_on_start != self.state.status
                    and self.state.status != DossierStatus.PROCESSED
                ):
                    self.set_status(step.status_on_start)
                due = (
                    self.ctx.calendar.due_date(now, step.deadline_working_days) if step.deadline_working_days else None
                )
                self.update_step(
                    step.id, status=StepStatus.RUNNING, started_at=now, sent_at=now, attempt=1, due_date=due
                )
                self.emit(StepTransition(step.id, step.agency, StepStatus.RUNNING))
                self.dispatch(step)
        if all(s.status in DONE_OK for s in self.state.steps.values()):
            self.finish(DossierStatus.RESULT_RETURNED, None)

    def finish(self, status: DossierStatus, reason: str | None) -> None:
        """End the dossier: cancel pending steps; without a result, undo what succeeded."""
        for step in self.proc.steps:
            if self.state.steps[step.id].status == StepStatus.PENDING:
                self.update_step(step.id, status=StepStatus.CANCELLED, finished_at=self.ctx.now)
                self.emit(StepTransition(step.id, step.agency, StepStatus.CANCELLED))
        self.update(done=True, finished_at=self.ctx.now)
        self.set_status(status, reason)
        if status != DossierStatus.RESULT_RETURNED:
            self.compensate(
                [s for s in reversed(self.proc.steps) if self.state.steps[s.id].status == StepStatus.SUCCEEDED]
            )

    def exchanged(self, step: StepDef, sent: StepState | CompensationState, reply: StepReply) -> None:
        """Report the end of ``sent``'s current exchange with its ``reply`` (:func:`_silence` turns
        the hub's stand-in for a missing reply into ``no_reply``)."""
        compensating = reply.step.endswith(COMPENSATE)
        params = self.params(step, step.compensation.inputs if compensating and step.compensation else None)
        self.emit(
            Exchanged(
                reply.step,
                reply.agency,
                reply.action,
                max(sent.attempt, 1),
                sent.sent_at or self.ctx.now,
                reply.outcome.value,
                _json_size(params),
                _json_size(reply.result) if reply.result else 0,
            )
        )

    def set_compensation(self, step_id: str, entry: CompensationState) -> None:
        self.update(compensations=self.state.compensations | {step_id: entry})

    def compensate(self, steps: list[StepDef]) -> None:
        """Undo succeeded steps (latest first), once each: by their compensation, or, for a step
        declared ``manual_reversal``, by telling operators to reverse it by hand."""
        for step in steps:
            if step.id in self.state.compensations:
                continue
            if step.compensation is None:
                if step.manual_reversal:
                    reason = f"{step.agency} has no message to undo {step.action}: an officer must reverse it"
                    self.set_compensation(step.id, CompensationState(status=StepStatus.MANUAL_REVERSAL, reason=reason))
                    self.emit(StepTransition(step.id + COMPENSATE, step.agency, StepStatus.MANUAL_REVERSAL, reason))
                continue
            agency = ACTIONS[step.compensation.action].agency
            self.set_compensation(step.id, CompensationState(status=StepStatus.RUNNING, sent_at=self.ctx.now))
            self.emit(StepTransition(step.id + COMPENSATE, agency, StepStatus.RUNNING))
            self.dispatch_compensation(step)

    def dispatch_compensation(self, step: StepDef) -> None:
        assert step.compensation is not None
        self.emit(
            Dispatch(
                step.id + COMPENSATE,
                ACTIONS[step.compensation.action].agency,
                step.compensation.action,
                self.params(step, step.compensation.inputs),
                f"undo {step.id}: the dossier ended without a result",
                compensation_key(self.state.dossier_id, step.id),
            )
        )


def start(proc: Procedure, filed: DossierFiled, correlation_id: str, ctx: Context) -> Result:
    """Open the saga for a newly filed dossier and dispatch the first steps."""
    state = SagaState(
        dossier_id=filed.dossier_id,
        procedure=proc.id,
        correlation_id=correlation_id,
        filed_by=filed.filed_by,
        received_at=filed.received_at,
        due_date=ctx.calendar.due_date(filed.received_at, proc.deadline_working_days),
        filing=filed.filing,
        status=DossierStatus.NEWLY_REGISTERED,
        steps={s.id: StepState() for s in proc.steps},
    )
    tx = _Transition(proc, state, ctx)
    tx.emit(StatusChange(DossierStatus.NEWLY_REGISTERED))
    tx.advance()
    return tx.result()


def admit_reply(proc: Procedure, state: SagaState, reply: StepReply, sender: str, key: str | None) -> None:
    """Raise NotEntitled unless ``reply`` (from ``sender``, under idempotency ``key``) answers a
    command the hub sent: the step's agency, the step's action, the key it was sent with. A
    payment step never succeeds by reply: only the gateway's verified notification completes it."""
    base = reply.step.removesuffix(COMPENSATE)
    step = next((s for s in proc.steps if s.id == base), None)
    if step is None or (reply.step.endswith(COMPENSATE) and step.compensation is None):
        raise Unprocessable(f"reply for {reply.step!r}, which is not a step of {proc.id}")
    if reply.step.endswith(COMPENSATE):
        assert step.compensation is not None
        action, expected_key = step.compensation.action, compensation_key(state.dossier_id, step.id)
    else:
        action, expected_key = step.action, idempotency_key(state.dossier_id, step.id, state.steps[step.id].round)
    agency = ACTIONS[action].agency
    if sender != agency or reply.agency != agency:
        raise NotEntitled(f"reply for {reply.step} from {sender}: the step was sent to {agency}")
    if reply.action != action:
        raise NotEntitled(f"reply for {reply.step} names action {reply.action!r}; the step was sent {action!r}")
    if key != expected_key:
        raise NotEntitled(f"reply for {reply.step} under idempotency key {key!r}; the step was sent {expected_key!r}")
    if step.payment is not None and reply.step == step.id and reply.outcome is Outcome.SUCCEEDED:
        raise NotEntitled(f"{step.id} is a payment: it succeeds only by the gateway's verified notification")


def admit_request(proc: Procedure, state: SagaState, request: str, sender: str) -> None:
    """Raise NotEntitled unless ``sender`` may ``request`` (withdraw, supplement) this dossier:
    the agency that filed it, or one acting on the citizen's behalf, as the registry says."""
    agency = AGENCIES.get(sender)
    entitled = (
        agency is not None
        and agency.may(request, proc.id)
        and (sender == state.filed_by or agency.on_behalf_of_citizen)
    )
    if not entitled:
        raise NotEntitled(f"{sender} may not {request} a {proc.id} dossier filed by {state.filed_by}")


def apply_reply(proc: Procedure, state: SagaState, reply: StepReply, ctx: Context) -> Result:
    """Apply an agency's reply; returns the state unchanged and no effects for a duplicate."""
    if reply.reason:
        reply = reply.model_copy(update={"reason": redact(reply.reason, personal_values(state.filing))})
    if reply.step.endswith(COMPENSATE):
        return _compensation_reply(proc, state, reply, ctx)
    current = state.steps.get(reply.step)
    if current is None:
        return state, []
    if current.gave_up_at is not None and reply.outcome is Outcome.SUCCEEDED:
        return _late_success(proc, state, reply, ctx)
    if current.status != StepStatus.RUNNING or (reply.outcome is Outcome.FAILED and current.retry_at is not None):
        return state, []  # a duplicate, or a repeated failure of the same send
    tx, step, now = _Transition(proc, state, ctx), proc.step(reply.step), ctx.now
    tx.exchanged(step, current, reply)
    if reply.outcome is Outcome.DOCUMENTS_REQUESTED and not state.done:
        tx.update_step(step.id, status=StepStatus.AWAITING_DOCUMENTS, reason=reply.reason)
        tx.emit(
            StepTransition(step.id, step.agency, StepStatus.AWAITING_DOCUMENTS, reply.reason, current.duration_ms(now))
        )
        tx.set_status(
            DossierStatus.DOCUMENTS_REQUESTED, f"{step.id} ({step.agency}): {reply.reason or 'more documents needed'}"
        )
        return tx.result()
    gave_up = now if reply.outcome is Outcome.FAILED and state.done else None  # no more tries once it ended
    if reply.outcome is Outcome.FAILED and not state.done:
        policy = ctx.retry[step.agency]
        since = current.failing_since or now
        if not policy.gives_up(since, now):
            delay = policy.delay(current.attempt, idempotency_key(state.dossier_id, step.id, current.round))
            tx.update_step(step.id, retry_at=now + delay, failing_since=since, reason=reply.reason)
            tx.emit(StepTransition(step.id, step.agency, RETRYING, _retry_reason(reply.reason, delay)))
            return tx.result()
        gave_up = now
        reply = reply.model_copy(update={"reason": f"gave up after {policy.give_up_after_h:g} h: {reply.reason}"})
    outcome, result, reason = _checked_outcome(proc, step, reply)
    reason = reason and redact(reason, personal_values(state.filing))  # an invalid result may quote values
    declined = outcome is not Outcome.SUCCEEDED and step.on_failure == "continue"
    status = StepStatus.DECLINED if declined else _OUTCOME_STATUS[outcome]
    tx.update_step(step.id, status=status, finished_at=now, result=result, reason=reason, gave_up_at=gave_up)
    tx.emit(StepTransition(step.id, step.agency, status, reason, current.duration_ms(now)))
    if state.done:
        # A late reply after the dossier ended: recorded; undone if it should not stand.
        if outcome is Outcome.SUCCEEDED and state.status != DossierStatus.RESULT_RETURNED:
            tx.compensate([step])
        return tx.result()
    if outcome is not Outcome.SUCCEEDED and not declined:
        refused_at_intake = outcome is Outcome.REJECTED and step.on_failure == "reject"
        final = DossierStatus.NOT_ACCEPTED if refused_at_intake else DossierStatus.PROCESSING_STOPPED
        tx.finish(final, f"{step.id} ({step.agency}): {reason}")
        return tx.result()
    tx.advance()
    return tx.result()


def overdue_targets(state: SagaState, now: datetime, calendar: WorkingCalendar) -> list[str | None]:
    """What has passed its due date and is not yet flagged: None for the dossier, or step ids."""
    if state.done:
        return []
    targets: list[str | None] = []
    if not state.overdue and calendar.is_overdue(state.due_date, now):
        targets.append(None)
    targets += [
        step_id
        for step_id, s in state.steps.items()
        if s.status == StepStatus.RUNNING and s.due_date and not s.overdue and calendar.is_overdue(s.due_date, now)
    ]
    return targets


def apply_overdue(proc: Procedure, state: SagaState, passed: DeadlinePassed, ctx: Context) -> Result:
    """Flag the dossier or a step overdue (once). An overdue dossier is promised a new date
    ``ctx.apology_extension_days`` from today, for the apology letter."""
    if passed.step not in overdue_targets(state, ctx.now, ctx.calendar):
        return state, []
    tx = _Transition(proc, state, ctx)
    if passed.step is None:
        new_due = ctx.calendar.due_date(ctx.now, ctx.apology_extension_days)
        tx.update(overdue=True, new_due_date=new_due)
        tx.emit(Overdue(None, None, state.due_date.isoformat(), new_due.isoformat()))
    else:
        flagged = tx.update_step(passed.step, overdue=True)
        assert flagged.due_date is not None
        tx.emit(Overdue(passed.step, proc.step(passed.step).agency, flagged.due_date.isoformat()))
    return tx.result()


def apply_supplement(proc: Procedure, state: SagaState, supplemented: DossierSupplemented, ctx: Context) -> Result:
    """The citizen supplied documents: send every step waiting for them again, with them."""
    waiting = [s for s in proc.steps if state.steps[s.id].status == StepStatus.AWAITING_DOCUMENTS]
    if state.done or not waiting:
        return state, []
    tx = _Transition(proc, state, ctx)
    tx.set_status(DossierStatus.PROCESSING)
    for step in waiting:
        tx.update_step(
            step.id,
            status=StepStatus.RUNNING,
            round=state.steps[step.id].round + 1,
            supplement=supplemented.documents,
            sent_at=ctx.now,
            attempt=1,
            reason=None,
            retry_at=None,
            failing_since=None,
        )
        tx.emit(StepTransition(step.id, step.agency, StepStatus.RUNNING, "documents supplied"))
        tx.dispatch(step)
    return tx.result()


def apply_withdrawal(proc: Procedure, state: SagaState, withdrawn: DossierWithdrawn, ctx: Context) -> Result:
    """The citizen withdrew the dossier: stop it (status 7); steps not yet answered are cancelled."""
    if state.done:
        return state, []
    tx = _Transition(proc, state, ctx)
    for step in proc.steps:
        if state.steps[step.id].status == StepStatus.AWAITING_DOCUMENTS:
            tx.update_step(step.id, status=StepStatus.CANCELLED, finished_at=ctx.now)
            tx.emit(StepTransition(step.id, step.agency, StepStatus.CANCELLED))
    tx.finish(DossierStatus.WITHDRAWN, redact(withdrawn.reason, personal_values(state.filing)))
    return tx.result()


def expired(state: SagaState, ctx: Context) -> bool:
    """Whether the saga may be forgotten: it ended over the retention period ago and waits on no
    compensation."""
    return (
        state.done
        and state.finished_at is not None
        and ctx.now - state.finished_at >= timedelta(days=ctx.saga_retention_days)
        and all(c.status != StepStatus.RUNNING for c in state.compensations.values())
    )


def apply_payment(proc: Procedure, state: SagaState, notification: PaymentNotification, ctx: Context) -> Result:
    """The gateway says a payment request was paid. A repeat of an applied notification changes
    nothing; an unknown reference or a different amount raises :class:`PaymentMismatch`."""
    step = next((s for s in proc.steps if s.id == notification.step and s.payment is not None), None)
    current = state.steps.get(notification.step) if step else None
    if (
        step is None
        or step.payment is None
        or current is None
        or current.status == StepStatus.PENDING
        or notification.reference != idempotency_key(state.dossier_id, step.id, current.round)
    ):
        raise PaymentMismatch(f"unknown payment reference {notification.reference!r}")
    if current.status != StepStatus.RUNNING and current.gave_up_at is None:
        return state, []  # already applied (or the dossier moved on): a repeated notification
    expected = _Transition(proc, state, ctx).params(step).get(step.payment.amount_input)
    if notification.amount_vnd != expected:
        raise PaymentMismatch(
            f"payment {notification.transaction_id} of {notification.amount_vnd} VND does not "
            f"match the {expected} VND requested for {notification.reference}"
        )
    paid = {
        "transaction_id": notification.transaction_id,
        "amount_vnd": notification.amount_vnd,
        "paid_at": notification.paid_at.isoformat(),
    }
    return apply_reply(proc, state, _reply_for(step, Outcome.SUCCEEDED, result=paid), ctx)


def apply_timeout(proc: Procedure, state: SagaState, timeout: StepTimeout, ctx: Context) -> Result:
    """A step's (or compensation's) timer ran out for attempt ``timeout.attempt``: with no reply in
    time, that is a technical failure (retried later); once its retry time has come, send it again.

    A timer for an attempt that is no longer current (a reply or a newer dispatch came first), or
    that has not yet run out, changes nothing.
    """
    if timeout.step.endswith(COMPENSATE):
        return _compensation_timer(proc, state, timeout, ctx)
    current = state.steps.get(timeout.step)
    if state.done or current is None or current.status != StepStatus.RUNNING or current.attempt != timeout.attempt:
        return state, []
    step = proc.step(timeout.step)
    if current.retry_at is None:
        reason = f"no reply from {step.agency} to attempt {timeout.attempt}"
        new_state, effects = _silence(apply_reply(proc, state, _reply_for(step, Outcome.FAILED, reason=reason), ctx))
        if current.failing_since is None:  # once per run of failures, not at every silent attempt
            waited = (ctx.now - current.sent_at).total_seconds() if current.sent_at else 0.0
            effects.append(Stuck(step.id, step.agency, timeout.attempt, waited))
        return new_state, effects
    if ctx.now < current.retry_at:
        return state, []
    tx = _Transition(proc, state, ctx)
    tx.update_step(step.id, attempt=timeout.attempt + 1, sent_at=ctx.now, retry_at=None)
    tx.emit(StepTransition(step.id, step.agency, REDISPATCHED, f"attempt {timeout.attempt + 1}"))
    tx.dispatch(step)
    return tx.result()


def timers_due(proc: Procedure, state: SagaState, now: datetime, timeout_s: float) -> list[tuple[str, int]]:
    """(step or compensation, attempt) whose timer ran out at ``now``: its retry time, or, when it
    waits for a reply, the reply timeout of its latest send (the step's ``reply_timeout_s``, else
    ``timeout_s``). Steps stop when the dossier ends; compensations run after it ended."""

    def ran_out(sent_at: datetime | None, retry_at: datetime | None, reply_timeout_s: float) -> bool:
        if retry_at is not None:
            return now >= retry_at
        return sent_at is not None and (now - sent_at).total_seconds() >= reply_timeout_s

    due = [
        (step.id, s.attempt)
        for step in ([] if state.done else proc.steps)
        if (s := state.steps[step.id]).status == StepStatus.RUNNING
        and ran_out(s.sent_at, s.retry_at, step.reply_timeout_s or timeout_s)
    ]
    due += [
        (step_id + COMPENSATE, c.attempt)
        for step_id, c in state.compensations.items()
        if c.status == StepStatus.RUNNING and ran_out(c.sent_at, c.retry_at, timeout_s)
    ]
    return due


def _silence(result: Result) -> Result:
    """``result`` of a failure the hub stood in for when no reply came: its exchange had no answer."""
    state, effects = result
    return state, [replace(e, outcome=NO_REPLY, response_bytes=0) if isinstance(e, Exchanged) else e for e in effects]


def _json_size(data: dict[str, Any]) -> int:
    return len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())


def _retry_reason(reason: str | None, delay: timedelta) -> str:
    return f"{reason or 'failed technically'}; sending again in {delay.total_seconds():.0f} s"


def _late_success(proc: Procedure, state: SagaState, reply: StepReply, ctx: Context) -> Result:
    """A success for a step the hub gave up on: the agency did act after all. The success stands;
    if the dossier ended without a result, the step is undone like any other (or flagged)."""
    step, current = proc.step(reply.step), state.steps[reply.step]
    outcome, result, _ = _checked_outcome(proc, step, reply)
    if outcome is not Outcome.SUCCEEDED:
        return state, []
    tx = _Transition(proc, state, ctx)
    tx.update_step(step.id, status=StepStatus.SUCCEEDED, result=result, reason=None, gave_up_at=None)
    tx.emit(StepTransition(step.id, step.agency, LATE_SUCCESS, f"succeeded after the hub gave up: {current.reason}"))
    if state.done and state.status != DossierStatus.RESULT_RETURNED:
        tx.compensate([step])
    return tx.result()


def _reply_for(
    step: StepDef, outcome: Outcome, result: dict[str, Any] | None = None, reason: str | None = None
) -> StepReply:
    """The reply the hub stands in for: a payment notified by callback, or silence."""
    return StepReply(
        step=step.id, action=step.action, agency=step.agency, outcome=outcome, result=result or {}, reason=reason
    )


def _checked_outcome(proc: Procedure, step: StepDef, reply: StepReply) -> tuple[Outcome, dict[str, Any], str | None]:
    if reply.outcome is not Outcome.SUCCEEDED:
        return reply.outcome, {}, reply.reason or "no reason given"
    try:
        result = ACTIONS[step.action].result.model_validate(reply.result)
    except ValidationError as exc:
        return Outcome.FAILED, {}, f"{step.agency} returned an invalid result: {describe_error(exc)}"
    # Least data: keep only the fields a later step reads (a citizen record is checked, not kept).
    kept = proc.result_fields_read(step.id)
    fields = result.model_dump(mode="json")
    return Outcome.SUCCEEDED, {k: v for k, v in fields.items() if kept is None or k in kept}, None


def _compensation_reply(proc: Procedure, state: SagaState, reply: StepReply, ctx: Context) -> Result:
    step_id, now = reply.step.removesuffix(COMPENSATE), ctx.now
    entry = state.compensations.get(step_id)
    if entry is None or entry.status != StepStatus.RUNNING or (reply.outcome is Outcome.FAILED and entry.retry_at):
        return state, []  # not running, or a repeated failure of the same send
    tx = _Transition(proc, state, ctx)
    tx.exchanged(proc.step(step_id), entry, reply)
    reason = reply.reason
    if reply.outcome is Outcome.FAILED:
        policy = ctx.retry[reply.agency]
        since = entry.failing_since or now
        if not policy.gives_up(since, now):
            delay = policy.delay(entry.attempt, compensation_key(state.dossier_id, step_id))
            tx.set_compensation(
                step_id, entry.model_copy(update={"retry_at": now + delay, "failing_since": since, "reason": reason})
            )
            tx.emit(StepTransition(reply.step, reply.agency, RETRYING, _retry_reason(reason, delay)))
            return tx.result()
        reason = f"gave up after {policy.give_up_after_h:g} h: {reason}; an officer must reverse it"
    status = _OUTCOME_STATUS[reply.outcome]
    tx.set_compensation(
        step_id,
        entry.model_copy(update={"status": status, "reason": reason, "result": reply.result, "retry_at": None}),
    )
    tx.emit(StepTransition(reply.step, reply.agency, status, reason))
    return tx.result()


def _compensation_timer(proc: Procedure, state: SagaState, timeout: StepTimeout, ctx: Context) -> Result:
    """:func:`apply_timeout` for a compensation: no reply is a technical failure; at its retry
    time it is sent again."""
    step_id = timeout.step.removesuffix(COMPENSATE)
    step = next((s for s in proc.steps if s.id == step_id), None)
    entry = state.compensations.get(step_id)
    if (
        step is None
        or step.compensation is None
        or entry is None
        or entry.status != StepStatus.RUNNING
        or entry.attempt != timeout.attempt
    ):
        return state, []
    action = step.compensation.action
    agency = ACTIONS[action].agency
    if entry.retry_at is None:
        reason = f"no reply from {agency} to attempt {timeout.attempt}"
        silence = StepReply(step=timeout.step, action=action, agency=agency, outcome=Outcome.FAILED, reason=reason)
        return _silence(_compensation_reply(proc, state, silence, ctx))
    if ctx.now < entry.retry_at:
        return state, []
    tx = _Transition(proc, state, ctx)
    tx.set_compensation(
        step_id, entry.model_copy(update={"attempt": timeout.attempt + 1, "sent_at": ctx.now, "retry_at": None})
    )
    tx.emit(StepTransition(timeout.step, agency, REDISPATCHED, f"attempt {timeout.attempt + 1}"))
    tx.dispatch_compensation(step)
    return tx.result()
