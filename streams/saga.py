"""One saga per dossier: a pure state machine over a procedure definition.

The saga neither reads Kafka nor writes it. :func:`start` and :func:`apply_reply` take the stored
state (a JSON-able dict, kept in a changelog-backed Faust table) and an event, and return the new
state plus the effects to carry out: commands to dispatch, status changes, and transitions for the
monitoring topic. ``streams.orchestrate`` performs the effects.

Rules, the same for every procedure:

* filing → status 1; once every intake step (``on_failure = "reject"``) has succeeded → status 2;
* a step starts when all its dependencies succeeded or were skipped; steps with no dependency
  between them are dispatched together, so they run in parallel;
* a step's ``status_on_start`` moves the dossier forward (e.g. 4 processing, 9 processed);
* all steps done → status 10 (result returned);
* a step with ``on_failure = "continue"`` that is refused or fails is recorded as declined and
  the dossier goes on (e.g. no funeral allowance because the deceased was not insured);
* an intake step the agency refuses (``rejected``) → status 3 (not accepted); any other refusal,
  and any technical failure, → status 8 (stopped); pending steps are cancelled and late replies
  are recorded without moving the dossier;
* a step with no reply in time is dispatched again with the same idempotency key (the agency
  performs it at most once), up to the attempt limit; then it fails;
* an agency that asks for more documents puts the step on hold and the dossier in status 5;
  when the citizen supplies them the step is sent again (a new round, so a new idempotency key)
  with the documents, and the dossier returns to 4;
* a citizen's withdrawal before the end → status 7; pending and held steps are cancelled;
* when a dossier ends without a result (3, 7, 8), every succeeded step that declares a
  compensation is undone, latest first (e.g. a payment refunded) — also a step whose success
  arrives after the end;
* a reply for a step that is not running is a duplicate and changes nothing;
* the dossier is due at the end of the procedure's deadline in working days from receipt, a step
  at the end of its own deadline from dispatch; once the due day has passed the dossier (or step)
  is flagged overdue, once, and an overdue dossier gets an apology with a new date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from contracts.actions import ACTIONS
from contracts.catalog import Procedure, StepDef
from contracts.envelope import describe_error
from contracts.errors import PaymentMismatch
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
from contracts.status import DossierStatus
from contracts.working_days import WorkingCalendar

State = dict[str, Any]

PENDING, RUNNING, SUCCEEDED, SKIPPED, CANCELLED = "pending", "running", "succeeded", "skipped", "cancelled"
DECLINED = "declined"  # refused or failed, but the procedure says the dossier goes on
REDISPATCHED = "redispatched"
COMPENSATE = ":compensate"  # suffix of the step name a compensation command and its reply carry
AWAITING_DOCUMENTS = "awaiting_documents"
DONE_OK = {SUCCEEDED, SKIPPED, DECLINED}
ONGOING_OR_OK = {RUNNING, SUCCEEDED, SKIPPED}  # step states that need no operator attention


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
    state: str
    reason: str | None = None
    duration_ms: int | None = None


Effect = Dispatch | StatusChange | StepTransition | Overdue


def idempotency_key(dossier_id: str, step_id: str, round_: int = 1) -> str:
    """The key an agency uses to perform a step's effect at most once (per documents round)."""
    return f"{dossier_id}/{step_id}" + (f"/r{round_}" if round_ > 1 else "")


@dataclass(frozen=True)
class Context:
    """What every transition is judged against: the time, the working calendar, the policies."""

    now: datetime
    calendar: WorkingCalendar
    step_attempts: int  # sends of a step before it fails for want of a reply
    apology_extension_days: float  # working days promised in an overdue dossier's apology


def start(proc: Procedure, filed: DossierFiled, correlation_id: str, ctx: Context) -> tuple[State, list[Effect]]:
    """Open the saga for a newly filed dossier and dispatch the first steps."""
    now, calendar = ctx.now, ctx.calendar
    state: State = {
        "dossier_id": filed.dossier_id,
        "procedure": proc.id,
        "correlation_id": correlation_id,
        "filed_by": filed.filed_by,
        "received_at": filed.received_at.isoformat(),
        "due_date": calendar.due_date(filed.received_at, proc.deadline_working_days).isoformat(),
        "overdue": False,
        "filing": filed.filing,
        "status": int(DossierStatus.NEWLY_REGISTERED),
        "reason": None,
        "done": False,
        "steps": {s.id: {"state": PENDING, "started_at": None, "sent_at": None, "attempt": 0,
                         "finished_at": None, "result": {}, "reason": None, "due_date": None,
                         "overdue": False, "round": 1, "supplement": None} for s in proc.steps},
    }
    effects: list[Effect] = [StatusChange(DossierStatus.NEWLY_REGISTERED)]
    _advance(proc, state, now, effects, calendar)
    return state, effects


def apply_reply(proc: Procedure, state: State, reply: StepReply, ctx: Context) -> tuple[State, list[Effect]]:
    """Apply an agency's reply; returns the state unchanged and no effects for a duplicate."""
    now = ctx.now
    if reply.step.endswith(COMPENSATE):
        return _compensation_reply(proc, state, reply, now)
    step_state = state["steps"].get(reply.step)
    if step_state is None or step_state["state"] != RUNNING:
        return state, []
    step = proc.step(reply.step)
    if reply.outcome is Outcome.DOCUMENTS_REQUESTED and not state["done"]:
        reason = f"{step.id} ({step.agency}): {reply.reason or 'more documents needed'}"
        step_state.update(state=AWAITING_DOCUMENTS, reason=reply.reason)
        effects: list[Effect] = [StepTransition(step.id, step.agency, AWAITING_DOCUMENTS, reply.reason,
                                                _duration_ms(step_state | {"finished_at": now.isoformat()}))]
        _set_status(state, DossierStatus.DOCUMENTS_REQUESTED, reason, effects)
        return state, effects
    outcome, result, reason = _checked_outcome(step, reply)
    declined = outcome is not Outcome.SUCCEEDED and step.on_failure == "continue"
    new_state = DECLINED if declined else outcome.value
    step_state.update(state=new_state, finished_at=now.isoformat(), result=result, reason=reason)
    effects = [StepTransition(step.id, step.agency, new_state, reason, _duration_ms(step_state))]
    if state["done"]:
        # A late reply after the dossier ended: recorded; undone if it should not stand.
        if outcome is Outcome.SUCCEEDED and state["status"] != DossierStatus.RESULT_RETURNED:
            _compensate(proc, state, [step], effects)
        return state, effects
    if outcome is not Outcome.SUCCEEDED and not declined:
        refused_at_intake = outcome is Outcome.REJECTED and step.on_failure == "reject"
        final = DossierStatus.NOT_ACCEPTED if refused_at_intake else DossierStatus.PROCESSING_STOPPED
        _finish(proc, state, final, f"{step.id} ({step.agency}): {reason}", now, effects)
        return state, effects
    _advance(proc, state, now, effects, ctx.calendar)
    return state, effects


def overdue_targets(state: State, now: datetime, calendar: WorkingCalendar) -> list[str | None]:
    """What has passed its due date and is not yet flagged: None for the dossier, or step ids."""
    if state["done"]:
        return []
    targets: list[str | None] = []
    if not state["overdue"] and calendar.is_overdue(date.fromisoformat(state["due_date"]), now):
        targets.append(None)
    for step_id, s in state["steps"].items():
        if s["state"] == RUNNING and s["due_date"] and not s["overdue"] and calendar.is_overdue(
                date.fromisoformat(s["due_date"]), now):
            targets.append(step_id)
    return targets


def apply_overdue(proc: Procedure, state: State, passed: DeadlinePassed, ctx: Context) -> tuple[State, list[Effect]]:
    """Flag the dossier or a step overdue (once). An overdue dossier is promised a new date
    ``ctx.apology_extension_days`` from today, for the apology letter."""
    step_id, now, calendar = passed.step, ctx.now, ctx.calendar
    if state["done"]:
        return state, []
    if step_id is None:
        if state["overdue"] or not calendar.is_overdue(date.fromisoformat(state["due_date"]), now):
            return state, []
        new_due = calendar.due_date(now, ctx.apology_extension_days).isoformat()
        state.update(overdue=True, new_due_date=new_due)
        return state, [Overdue(None, None, state["due_date"], new_due)]
    step_state = state["steps"].get(step_id)
    if (step_state is None or step_state["state"] != RUNNING or step_state["overdue"]
            or not step_state["due_date"] or not calendar.is_overdue(date.fromisoformat(step_state["due_date"]), now)):
        return state, []
    step_state["overdue"] = True
    return state, [Overdue(step_id, proc.step(step_id).agency, step_state["due_date"])]


def apply_supplement(proc: Procedure, state: State, supplemented: DossierSupplemented,
                     ctx: Context) -> tuple[State, list[Effect]]:
    """The citizen supplied documents: send every step waiting for them again, with them."""
    documents, now = supplemented.documents, ctx.now
    waiting = [s for s in proc.steps if state["steps"][s.id]["state"] == AWAITING_DOCUMENTS]
    if state["done"] or not waiting:
        return state, []
    effects: list[Effect] = []
    _set_status(state, DossierStatus.PROCESSING, None, effects)
    for step in waiting:
        step_state = state["steps"][step.id]
        step_state.update(state=RUNNING, round=step_state["round"] + 1, supplement=documents,
                          sent_at=now.isoformat(), attempt=1, reason=None)
        effects += [StepTransition(step.id, step.agency, RUNNING, "documents supplied"), _dispatch(step, state)]
    return state, effects


def apply_withdrawal(proc: Procedure, state: State, withdrawn: DossierWithdrawn,
                     ctx: Context) -> tuple[State, list[Effect]]:
    """The citizen withdrew the dossier: stop it (status 7); steps not yet answered are cancelled."""
    reason, now = withdrawn.reason, ctx.now
    if state["done"]:
        return state, []
    effects: list[Effect] = []
    for step in proc.steps:
        if state["steps"][step.id]["state"] == AWAITING_DOCUMENTS:
            state["steps"][step.id].update(state=CANCELLED, finished_at=now.isoformat())
            effects.append(StepTransition(step.id, step.agency, CANCELLED))
    _finish(proc, state, DossierStatus.WITHDRAWN, reason, now, effects)
    return state, effects


def overdue_steps(proc: Procedure, state: State, now: datetime, timeout_s: float) -> list[tuple[str, int]]:
    """Running steps whose last dispatch got no reply in time (the step's ``reply_timeout_s``, else
    ``timeout_s``): (step, attempt)."""
    if state["done"]:
        return []
    return [(step.id, s["attempt"]) for step in proc.steps
            if (s := state["steps"][step.id])["state"] == RUNNING
            and (now - datetime.fromisoformat(s["sent_at"])).total_seconds() >= (step.reply_timeout_s or timeout_s)]


def apply_payment(proc: Procedure, state: State, notification: PaymentNotification,
                  ctx: Context) -> tuple[State, list[Effect]]:
    """The gateway says a payment request was paid. A repeat of an applied notification changes
    nothing; an unknown reference or a different amount raises :class:`PaymentMismatch`."""
    step = next((s for s in proc.steps if s.id == notification.step and s.action == "collect_payment"), None)
    step_state = state["steps"].get(notification.step) if step else None
    if step is None or step_state is None or step_state["state"] == PENDING or notification.reference != \
            idempotency_key(state["dossier_id"], step.id, step_state["round"]):
        raise PaymentMismatch(f"unknown payment reference {notification.reference!r}")
    if step_state["state"] != RUNNING:
        return state, []  # already applied (or the dossier moved on): a repeated notification
    expected = _params(step, state)["amount_vnd"]
    if notification.amount_vnd != expected:
        raise PaymentMismatch(f"payment {notification.transaction_id} of {notification.amount_vnd} VND does not "
                              f"match the {expected} VND requested for {notification.reference}")
    return apply_reply(proc, state, StepReply(
        step=step.id, action=step.action, agency=step.agency, outcome=Outcome.SUCCEEDED,
        result={"transaction_id": notification.transaction_id, "amount_vnd": notification.amount_vnd,
                "paid_at": notification.paid_at.isoformat()}), ctx)


def apply_timeout(proc: Procedure, state: State, timeout: StepTimeout, ctx: Context) -> tuple[State, list[Effect]]:
    """Dispatch a step again after a timeout, or fail it once ``ctx.step_attempts`` went unanswered.

    A timeout for an attempt that is no longer current (a reply or a newer dispatch came first)
    changes nothing.
    """
    step_id, attempt, now = timeout.step, timeout.attempt, ctx.now
    step_state = state["steps"].get(step_id)
    if state["done"] or step_state is None or step_state["state"] != RUNNING or step_state["attempt"] != attempt:
        return state, []
    step = proc.step(step_id)
    if attempt >= ctx.step_attempts:
        return apply_reply(proc, state, StepReply(
            step=step.id, action=step.action, agency=step.agency, outcome=Outcome.FAILED,
            reason=f"no reply from {step.agency} after {attempt} attempts"), ctx)
    step_state.update(attempt=attempt + 1, sent_at=now.isoformat())
    return state, [
        StepTransition(step.id, step.agency, REDISPATCHED, f"no reply to attempt {attempt}; sending again"),
        _dispatch(step, state),
    ]


def _checked_outcome(step: StepDef, reply: StepReply) -> tuple[Outcome, dict[str, Any], str | None]:
    if reply.outcome is not Outcome.SUCCEEDED:
        return reply.outcome, {}, reply.reason or "no reason given"
    try:
        result = ACTIONS[step.action].result.model_validate(reply.result)
    except ValidationError as exc:
        return Outcome.FAILED, {}, f"{step.agency} returned an invalid result: {describe_error(exc)}"
    return Outcome.SUCCEEDED, result.model_dump(mode="json"), None


def _advance(proc: Procedure, state: State, now: datetime, effects: list[Effect],
             calendar: WorkingCalendar) -> None:
    steps = state["steps"]
    progressed = True
    while progressed:
        progressed = False
        if state["status"] == DossierStatus.NEWLY_REGISTERED and all(
            steps[s]["state"] in DONE_OK for s in proc.intake_steps
        ):
            _set_status(state, DossierStatus.ACCEPTED, None, effects)
        for step in proc.steps:
            if steps[step.id]["state"] != PENDING:
                continue
            if not all(steps[d]["state"] in DONE_OK for d in step.depends_on):
                continue
            progressed = True
            if step.skip_unless and not _resolve(step.skip_unless, state):
                steps[step.id].update(state=SKIPPED, finished_at=now.isoformat())
                effects.append(StepTransition(step.id, step.agency, SKIPPED))
                continue
            if step.status_on_start and step.status_on_start != state["status"] \
                    and state["status"] != DossierStatus.PROCESSED:
                _set_status(state, step.status_on_start, None, effects)
            due = (calendar.due_date(now, step.deadline_working_days).isoformat()
                   if step.deadline_working_days else None)
            steps[step.id].update(state=RUNNING, started_at=now.isoformat(), sent_at=now.isoformat(),
                                  attempt=1, due_date=due)
            effects.append(StepTransition(step.id, step.agency, RUNNING))
            effects.append(_dispatch(step, state))
    if all(s["state"] in DONE_OK for s in steps.values()):
        _finish(proc, state, DossierStatus.RESULT_RETURNED, None, now, effects)


def _dispatch(step: StepDef, state: State) -> Dispatch:
    step_state = state["steps"][step.id]
    return Dispatch(step.id, step.agency, step.action, _params(step, state), step.purpose,
                    idempotency_key(state["dossier_id"], step.id, step_state["round"]),
                    step_state["supplement"])


def _finish(proc: Procedure, state: State, status: DossierStatus, reason: str | None,
            now: datetime, effects: list[Effect]) -> None:
    for step in proc.steps:
        if state["steps"][step.id]["state"] == PENDING:
            state["steps"][step.id].update(state=CANCELLED, finished_at=now.isoformat())
            effects.append(StepTransition(step.id, step.agency, CANCELLED))
    state["done"] = True
    _set_status(state, status, reason, effects)
    if status != DossierStatus.RESULT_RETURNED:
        done = [s for s in reversed(proc.steps) if state["steps"][s.id]["state"] == SUCCEEDED]
        _compensate(proc, state, done, effects)


def _compensate(proc: Procedure, state: State, steps: list[StepDef], effects: list[Effect]) -> None:
    """Undo succeeded steps that declare a compensation (latest first), once each."""
    compensations = state.setdefault("compensations", {})
    for step in steps:
        if step.compensation is None or step.id in compensations:
            continue
        action = ACTIONS[step.compensation.action]
        compensations[step.id] = {"state": RUNNING, "reason": None}
        params = _params(step.model_copy(update={"inputs": step.compensation.inputs}), state)
        effects.append(StepTransition(step.id + COMPENSATE, action.agency, RUNNING))
        effects.append(Dispatch(step.id + COMPENSATE, action.agency, step.compensation.action, params,
                                f"undo {step.id}: the dossier ended without a result",
                                f"{state['dossier_id']}/{step.id}/compensate"))


def _compensation_reply(proc: Procedure, state: State, reply: StepReply, now: datetime) -> tuple[State, list[Effect]]:
    step_id = reply.step.removesuffix(COMPENSATE)
    entry = state.get("compensations", {}).get(step_id)
    if entry is None or entry["state"] != RUNNING:
        return state, []
    entry.update(state=reply.outcome.value, reason=reply.reason, result=reply.result)
    return state, [StepTransition(reply.step, reply.agency, reply.outcome.value, reply.reason)]


def _set_status(state: State, status: DossierStatus, reason: str | None, effects: list[Effect]) -> None:
    state["status"] = int(status)
    state["reason"] = reason
    effects.append(StatusChange(status, reason))


def _duration_ms(step_state: dict[str, Any]) -> int | None:
    if not step_state["started_at"]:
        return None
    started = datetime.fromisoformat(step_state["started_at"])
    return int((datetime.fromisoformat(step_state["finished_at"]) - started).total_seconds() * 1000)


def _resolve(path: str, state: State) -> Any:
    """Value at ``filing.<…>``, ``steps.<id>.<…>`` or ``dossier.<field>`` in the saga state, or None."""
    head, _, rest = path.partition(".")
    if head == "dossier":
        return {"id": state["dossier_id"], "procedure": state["procedure"],
                "received_at": state["received_at"]}.get(rest)
    if head == "filing":
        node: Any = state["filing"]
    else:
        step_id, _, rest = rest.partition(".")
        node = state["steps"][step_id]["result"]
    for part in rest.split(".") if rest else []:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _params(step: StepDef, state: State) -> dict[str, Any]:
    """The step's inputs, and nothing else: dotted targets build nested objects, empty ones vanish."""
    params: dict[str, Any] = {}
    for target, source in step.inputs.items():
        value = _resolve(source, state) if isinstance(source, str) else source
        if value is None:
            continue
        *parents, leaf = target.split(".")
        node = params
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return params
