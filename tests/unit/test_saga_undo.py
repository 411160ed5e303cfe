"""Undoing what a dossier that ended without a result leaves behind, seen from outside.

The citizen's fee comes back: its refund is sent under one idempotency key, again after a
technical failure or silence, until it succeeds or the retry policy gives up and an officer is
told. What no message undoes is flagged for an officer. A success the hub had given up on stands,
and is undone if the dossier ended without a result. Written against the mutants of
``streams/saga.py`` that no unit test reached (``make mutation``, docs/testing.md).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from contracts.catalog import builtin_catalog
from contracts.errors import PaymentMismatch
from contracts.events import DossierSupplemented, DossierWithdrawn, Outcome, StepReply, StepTimeout
from contracts.status import DossierStatus as S
from streams import saga
from streams.saga_state import CompensationState, SagaState
from tests.unit.test_orchestrate import FILINGS
from tests.unit.test_orchestrate import RESULTS as RESULTS_BY_ACTION
from tests.unit.test_saga import DOSSIER, PROC, T0, ctx, filed, reply
from tests.unit.test_saga_rules import (
    CRIMINAL,
    answer,
    criminal_record_awaiting_fee,
    paid,
    refund_reply,
    started,
    transitions,
)

REFUND = "collect_fee:compensate"
REFUND_KEY = f"{DOSSIER}/collect_fee/compensate"
REFUND_PARAMS = {"transaction_id": "TXN-1", "amount_vnd": 200_000}
T1 = T0 + timedelta(seconds=10)  # the dossier is withdrawn
T2 = T0 + timedelta(seconds=20)  # the refund first fails
RECORDS_UNDONE_BY_HAND = "justice has no message to undo check_criminal_record: an officer must reverse it"


def dispatches(effects: list[saga.Effect]) -> list[saga.Dispatch]:
    return [e for e in effects if isinstance(e, saga.Dispatch)]


def exchanges(effects: list[saga.Effect]) -> list[saga.Exchanged]:
    return [e for e in effects if isinstance(e, saga.Exchanged)]


def withdrawn_after_the_records_check() -> tuple[SagaState, list[saga.Effect]]:
    """A criminal-record dossier, fee paid and records checked, withdrawn at T1."""
    state = criminal_record_awaiting_fee()
    state, _ = saga.apply_payment(CRIMINAL, state, paid(), ctx(T0))
    state, _ = answer(CRIMINAL, state, "check_records")
    return saga.apply_withdrawal(CRIMINAL, state, DossierWithdrawn(), ctx(T1))


def refund_failed_once(**policy: float) -> SagaState:
    state, _ = withdrawn_after_the_records_check()
    state, _ = saga.apply_reply(CRIMINAL, state, refund_reply(Outcome.FAILED, "gateway down"), ctx(T2, **policy))
    return state


def test_a_withdrawal_refunds_the_fee_and_flags_for_an_officer_what_no_message_undoes():
    state, effects = withdrawn_after_the_records_check()
    assert transitions(effects)[-2:] == [  # latest first: the records check, then the fee
        ("check_records:compensate", "justice", "manual_reversal", RECORDS_UNDONE_BY_HAND),
        (REFUND, "payment", "running", None),
    ]
    (refund,) = dispatches(effects)
    assert refund == saga.Dispatch(
        REFUND,
        "payment",
        "refund_payment",
        REFUND_PARAMS,
        "undo collect_fee: the dossier ended without a result",
        REFUND_KEY,
    )
    assert state.compensations == {  # the identity checks changed nothing to undo
        "check_records": CompensationState(status="manual_reversal", reason=RECORDS_UNDONE_BY_HAND),
        "collect_fee": CompensationState(status="running", sent_at=T1),
    }


def test_a_refund_failing_technically_is_sent_again_under_the_same_key_until_it_succeeds():
    state = refund_failed_once()
    entry = state.compensations["collect_fee"]
    assert (entry.status, entry.reason, entry.failing_since, entry.attempt) == ("running", "gateway down", T2, 1)
    assert T2 + timedelta(seconds=2.5) <= entry.retry_at <= T2 + timedelta(seconds=5)  # first delay 5 s, jittered
    wait = (entry.retry_at - T2).total_seconds()
    assert saga.apply_reply(CRIMINAL, state, refund_reply(Outcome.FAILED, "gateway down"), ctx(T2)) == (state, [])

    # not before its time; at its time, the same refund under the same key
    assert saga.timers_due(CRIMINAL, state, entry.retry_at - timedelta(milliseconds=1), 60) == []
    assert saga.timers_due(CRIMINAL, state, entry.retry_at, 60) == [(REFUND, 1)]
    early = ctx(entry.retry_at - timedelta(milliseconds=1))
    assert saga.apply_timeout(CRIMINAL, state, StepTimeout(step=REFUND, attempt=1), early) == (state, [])
    state, effects = saga.apply_timeout(CRIMINAL, state, StepTimeout(step=REFUND, attempt=1), ctx(entry.retry_at))
    assert [(d.step, d.params, d.idempotency_key) for d in dispatches(effects)] == [(REFUND, REFUND_PARAMS, REFUND_KEY)]
    assert transitions(effects) == [(REFUND, "payment", "redispatched", "attempt 2")]
    again = state.compensations["collect_fee"]
    assert (again.attempt, again.sent_at, again.retry_at, again.failing_since) == (2, entry.retry_at, None, T2)
    assert saga.timers_due(CRIMINAL, state, entry.retry_at + timedelta(seconds=59), 60) == []
    assert saga.timers_due(CRIMINAL, state, entry.retry_at + timedelta(seconds=60), 60) == [(REFUND, 2)]

    # a second failure waits longer (5 to 10 s) and still counts from the first
    T3 = entry.retry_at + timedelta(seconds=1)
    state, effects = saga.apply_reply(CRIMINAL, state, refund_reply(Outcome.FAILED, "still down"), ctx(T3))
    second = state.compensations["collect_fee"]
    assert T3 + timedelta(seconds=5) <= second.retry_at <= T3 + timedelta(seconds=10)
    assert (second.failing_since, second.reason) == (T2, "still down")
    delay = (second.retry_at - T3).total_seconds()
    assert transitions(effects) == [(REFUND, "payment", "retrying", f"still down; sending again in {delay:.0f} s")]
    assert [(e.step, e.attempt, e.outcome, e.request_bytes) for e in exchanges(effects)] == [
        (REFUND, 2, "failed", len(json.dumps(REFUND_PARAMS, separators=(",", ":"))))  # the refund's own size
    ]
    assert wait < delay

    # the gateway refunds at last: kept with its result, nothing more is due
    state, _ = saga.apply_timeout(CRIMINAL, state, StepTimeout(step=REFUND, attempt=2), ctx(second.retry_at))
    state, effects = saga.apply_reply(CRIMINAL, state, refund_reply(Outcome.SUCCEEDED), ctx(second.retry_at))
    done = state.compensations["collect_fee"]
    assert (done.status, done.result, done.retry_at) == ("succeeded", RESULTS_BY_ACTION["refund_payment"], None)
    assert transitions(effects) == [(REFUND, "payment", "succeeded", None)]
    assert saga.timers_due(CRIMINAL, state, second.retry_at + timedelta(days=1), 60) == []


def test_a_refund_without_a_reply_is_a_technical_failure_tried_again_later():
    state, _ = withdrawn_after_the_records_check()
    assert saga.timers_due(CRIMINAL, state, T1 + timedelta(seconds=59), 60) == []
    assert saga.timers_due(CRIMINAL, state, T1 + timedelta(seconds=60), 60) == [(REFUND, 1)]
    silent = T1 + timedelta(seconds=60)
    state, effects = saga.apply_timeout(CRIMINAL, state, StepTimeout(step=REFUND, attempt=1), ctx(silent))
    entry = state.compensations["collect_fee"]
    assert (entry.reason, entry.failing_since) == ("no reply from payment to attempt 1", silent)
    assert silent + timedelta(seconds=2.5) <= entry.retry_at <= silent + timedelta(seconds=5)
    assert [(e.step, e.attempt, e.sent_at, e.outcome, e.response_bytes) for e in exchanges(effects)] == [
        (REFUND, 1, T1, "no_reply", 0)
    ]
    assert dispatches(effects) == []


def test_timers_for_a_refund_not_running_or_an_older_attempt_change_nothing():
    state, _ = withdrawn_after_the_records_check()
    later = ctx(T1 + timedelta(hours=1))
    for stale in (
        StepTimeout(step=REFUND, attempt=2),  # not yet sent a second time
        StepTimeout(step="check_records:compensate", attempt=1),  # an officer's, not a message's
        StepTimeout(step="verify_applicant:compensate", attempt=1),  # nothing to undo
        StepTimeout(step="no_such_step:compensate", attempt=1),
    ):
        assert saga.apply_timeout(CRIMINAL, state, stale, later) == (state, []), stale
    refunded, _ = saga.apply_reply(CRIMINAL, state, refund_reply(Outcome.SUCCEEDED), ctx(T2))
    assert saga.apply_timeout(CRIMINAL, refunded, StepTimeout(step=REFUND, attempt=1), later) == (refunded, [])


def test_a_refund_failing_past_the_retry_policy_is_left_to_an_officer_with_the_reason():
    state = refund_failed_once(give_up_after_h=1)
    retry_at = state.compensations["collect_fee"].retry_at
    state, _ = saga.apply_timeout(CRIMINAL, state, StepTimeout(step=REFUND, attempt=1), ctx(retry_at))
    hour_later = T2 + timedelta(hours=1)
    state, effects = saga.apply_reply(
        CRIMINAL, state, refund_reply(Outcome.FAILED, "gateway down"), ctx(hour_later, give_up_after_h=1)
    )
    reason = "gave up after 1 h: gateway down; an officer must reverse it"
    entry = state.compensations["collect_fee"]
    assert (entry.status, entry.reason, entry.retry_at) == ("failed", reason, None)
    assert transitions(effects) == [(REFUND, "payment", "failed", reason)]
    assert dispatches(effects) == []
    assert saga.timers_due(CRIMINAL, state, hour_later + timedelta(days=1), 60) == []


# --- a success after the hub gave up ----------------------------------------------------------------


def given_up(proc, state: SagaState, step: str, reason: str) -> SagaState:
    """``step``'s agency fails technically, is sent the command again, and still fails 48 h on."""
    state, _ = answer(proc, state, step, Outcome.FAILED, reason)
    retry_at = state.steps[step].retry_at
    state, _ = saga.apply_timeout(proc, state, StepTimeout(step=step, attempt=1), ctx(retry_at))
    state, _ = answer(proc, state, step, Outcome.FAILED, reason, now=T0 + timedelta(hours=48))
    assert state.steps[step].gave_up_at == T0 + timedelta(hours=48)
    return state


def records_check_given_up() -> SagaState:
    """The justice system stayed silent for the retry policy: the hub gave up, the dossier stopped."""
    state = criminal_record_awaiting_fee()
    state, _ = saga.apply_payment(CRIMINAL, state, paid(), ctx(T0))
    state = given_up(CRIMINAL, state, "check_records", "justice unavailable")
    assert state.status == S.PROCESSING_STOPPED
    return state


def test_a_success_after_the_hub_gave_up_stands_and_is_undone_as_the_dossier_ended_without_a_result():
    state = records_check_given_up()
    late = T0 + timedelta(hours=49)
    state, effects = answer(CRIMINAL, state, "check_records", now=late)
    step = state.steps["check_records"]
    assert (step.status, step.result, step.reason, step.gave_up_at) == (
        "succeeded",
        {"certificate_no": "LLTP-1"},  # only what a later step reads, as for any success
        None,
        None,
    )
    assert transitions(effects) == [
        (
            "check_records",
            "justice",
            "late_success",
            "succeeded after the hub gave up: gave up after 48 h: justice unavailable",
        ),
        ("check_records:compensate", "justice", "manual_reversal", RECORDS_UNDONE_BY_HAND),
    ]
    assert state.status == S.PROCESSING_STOPPED  # the dossier stays where it ended
    assert answer(CRIMINAL, state, "check_records", now=late) == (state, [])  # once


def test_a_late_refusal_or_an_invalid_late_success_changes_nothing():
    state = records_check_given_up()
    assert answer(CRIMINAL, state, "check_records", Outcome.REJECTED, "no record")[1] == []
    invalid = StepReply(
        step="check_records",
        action="check_criminal_record",
        agency="justice",
        outcome=Outcome.SUCCEEDED,
        result={"unexpected": True},
    )
    assert saga.apply_reply(CRIMINAL, state, invalid, ctx(T0)) == (state, [])


DEATH = builtin_catalog()["death_bundle"]


def allowance_given_up() -> SagaState:
    """A death dossier whose funeral allowance the hub gave up on; the procedure goes on without it."""
    state, _ = started(DEATH, FILINGS["death"])
    for step in ("verify_deceased", "verify_declarant", "register_death", "remove_residence"):
        state, _ = answer(DEATH, state, step)
    state = given_up(DEATH, state, "pay_funeral_allowance", "insurance unavailable")
    assert state.steps["pay_funeral_allowance"].status == "declined"
    return state


def test_a_late_success_of_a_step_the_dossier_went_on_without_is_kept_and_nothing_is_undone():
    state = allowance_given_up()
    state, effects = answer(DEATH, state, "pay_funeral_allowance", now=T0 + timedelta(hours=49))
    assert state.steps["pay_funeral_allowance"].status == "succeeded"
    assert [t[2] for t in transitions(effects)] == ["late_success"] and state.compensations == {}
    assert dispatches(effects) == [] and state.steps["return_result"].status == "running"


def test_a_late_success_after_the_result_was_returned_is_kept_and_nothing_is_undone():
    state, _ = answer(DEATH, allowance_given_up(), "return_result")
    assert state.status == S.RESULT_RETURNED
    state, effects = answer(DEATH, state, "pay_funeral_allowance", now=T0 + timedelta(hours=49))
    assert state.steps["pay_funeral_allowance"].status == "succeeded"
    assert [t[2] for t in transitions(effects)] == ["late_success"] and state.compensations == {}


def test_a_failure_after_the_dossier_ended_is_final_and_a_later_success_is_undone():
    state = criminal_record_awaiting_fee()
    state, _ = saga.apply_payment(CRIMINAL, state, paid(), ctx(T0))
    state, _ = saga.apply_withdrawal(CRIMINAL, state, DossierWithdrawn(), ctx(T1))  # the records check in flight
    state, effects = answer(CRIMINAL, state, "check_records", Outcome.FAILED, "justice unavailable", now=T2)
    step = state.steps["check_records"]
    assert (step.status, step.gave_up_at, step.retry_at) == ("failed", T2, None)  # no more tries once it ended
    assert [t[:3] for t in transitions(effects)] == [("check_records", "justice", "failed")]
    assert [due for due in saga.timers_due(CRIMINAL, state, T2 + timedelta(days=1), 60) if due[0] != REFUND] == []
    state, effects = answer(CRIMINAL, state, "check_records", now=T2 + timedelta(hours=1))
    assert [t[2] for t in transitions(effects)] == ["late_success", "manual_reversal"]


def test_a_technical_failure_without_a_reason_is_reported_as_such_with_its_retry():
    state = criminal_record_awaiting_fee()
    state, _ = saga.apply_payment(CRIMINAL, state, paid(), ctx(T0))
    state, effects = answer(CRIMINAL, state, "check_records", Outcome.FAILED, None, now=T1)
    delay = (state.steps["check_records"].retry_at - T1).total_seconds()
    assert transitions(effects) == [
        ("check_records", "justice", "retrying", f"failed technically; sending again in {delay:.0f} s")
    ]
    state, _ = saga.apply_timeout(CRIMINAL, state, StepTimeout(step="check_records", attempt=1), ctx(T2))
    state, _ = answer(CRIMINAL, state, "check_records", Outcome.FAILED, "justice unavailable", now=T2)
    assert state.steps["check_records"].reason == "justice unavailable"  # what the operator's status shows


def test_retries_of_steps_and_refunds_failing_at_the_same_moment_are_spread_out():
    """A recovering agency is not hit by every retry at once: each retry's jitter is drawn from
    its own idempotency key (and so is the same on whichever worker computes it)."""

    def birth(dossier: str) -> SagaState:
        state, _ = saga.start(PROC, filed().model_copy(update={"dossier_id": dossier}), "corr-1", ctx(T0))
        return state

    retry_times = set()
    for dossier in (DOSSIER, DOSSIER[:-1] + "2"):
        state = birth(dossier)
        for step in ("verify_mother", "verify_father"):
            failed = reply(step, Outcome.FAILED, reason="population unavailable")
            state, _ = saga.apply_reply(PROC, state, failed, ctx(T0))
            retry_times.add(state.steps[step].retry_at)
    assert len(retry_times) == 4
    refunds = set()
    for dossier in (DOSSIER, DOSSIER[:-1] + "2"):
        state, _ = withdrawn_after_the_records_check()
        state = state.model_copy(update={"dossier_id": dossier})
        state, _ = saga.apply_reply(CRIMINAL, state, refund_reply(Outcome.FAILED, "gateway down"), ctx(T2))
        refunds.add(state.compensations["collect_fee"].retry_at)
    assert len(refunds) == 2


def test_documents_requested_while_a_retry_was_scheduled_are_sent_once_when_supplied():
    state = criminal_record_awaiting_fee()
    state, _ = saga.apply_payment(CRIMINAL, state, paid(), ctx(T0))
    state, _ = answer(CRIMINAL, state, "check_records", Outcome.FAILED, "justice unavailable", now=T0)
    state, _ = answer(CRIMINAL, state, "check_records", Outcome.DOCUMENTS_REQUESTED, "supply the old passport")
    supplied_at = T0 + timedelta(days=1)
    state, effects = saga.apply_supplement(
        CRIMINAL, state, DossierSupplemented(documents={"passport": "B1234567"}), ctx(supplied_at)
    )
    assert [d.step for d in dispatches(effects)] == ["check_records"]
    assert saga.timers_due(CRIMINAL, state, supplied_at, 60) == []  # not sent a second time at once


def test_a_success_arriving_after_the_withdrawal_is_undone_once():
    state = criminal_record_awaiting_fee()
    state, _ = saga.apply_payment(CRIMINAL, state, paid(), ctx(T0))
    state, _ = saga.apply_withdrawal(CRIMINAL, state, DossierWithdrawn(), ctx(T1))  # the records check in flight
    state, effects = answer(CRIMINAL, state, "check_records", now=T2)
    assert ("check_records:compensate", "justice", "manual_reversal", RECORDS_UNDONE_BY_HAND) in transitions(effects)
    assert answer(CRIMINAL, state, "check_records", now=T2) == (state, [])


def test_a_payment_notified_after_the_hub_gave_up_on_the_fee_is_refunded():
    state = given_up(CRIMINAL, criminal_record_awaiting_fee(), "collect_fee", "gateway unavailable")
    assert state.status == S.PROCESSING_STOPPED
    state, effects = saga.apply_payment(CRIMINAL, state, paid(), ctx(T0 + timedelta(hours=49)))
    assert state.steps["collect_fee"].status == "succeeded"
    assert [t[:3] for t in transitions(effects)] == [
        ("collect_fee", "payment", "late_success"),
        (REFUND, "payment", "running"),
    ]
    assert [(d.step, d.params) for d in dispatches(effects)] == [(REFUND, REFUND_PARAMS)]


def test_a_payment_naming_a_step_that_takes_no_payment_is_refused():
    with pytest.raises(PaymentMismatch, match="unknown payment reference"):
        saga.apply_payment(CRIMINAL, criminal_record_awaiting_fee(), paid(f"{DOSSIER}/check_vneid"), ctx(T0))
