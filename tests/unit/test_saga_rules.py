"""The saga's rules at their edges, each checked by what someone outside sees.

A citizen sees the dossier's status and its reason; an agency sees the commands it gets; an
operator sees the step transitions on the monitoring topic and the stored state. These tests were
written against the mutants that survived a mutation run (mutmut) over ``streams/saga.py``,
``streams/router.py`` and ``contracts/paths.py``; the rules are those of ``streams/saga.py``'s docstring.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contracts.catalog import builtin_catalog, validate_procedure
from contracts.envelope import Envelope
from contracts.errors import CatalogError, NotEntitled, PaymentMismatch
from contracts.events import (
    DOSSIER_FILED,
    DOSSIER_SUPPLEMENTED,
    SAGA_EXPIRED,
    STEP_REPLY,
    DeadlinePassed,
    DossierFiled,
    DossierSupplemented,
    DossierWithdrawn,
    Outcome,
    PaymentNotification,
    SagaExpired,
    StepReply,
    StepTimeout,
)
from contracts.paths import SourcePath, build_params, resolve
from contracts.status import DossierStatus as S
from streams import router, saga
from streams.saga_state import SagaState
from tests.unit.test_orchestrate import RESULTS as RESULTS_BY_ACTION
from tests.unit.test_saga import DOSSIER, FILING, PROC, T0, ctx, dispatched, filed, reply, run, statuses

CATALOG = builtin_catalog()
CRIMINAL = CATALOG["criminal_record"]
APPLICANT = {
    "applicant": {
        "full_name": "Trần Thị Lan",
        "personal_id": "093195000123",
        "sex": "female",
        "date_of_birth": "05/05/1995",
        "place_of_birth": "Hậu Giang",
        "nationality": "VN",
        "permanent_residence": {"commune_code": "31360"},
    },
    "residence_history": [{"from_month": "05/2009", "address": "Ấp Láng Hầm, xã Thạnh Xuân"}],
    "certificate_type": 1,
    "purpose": "xin việc",
}
FEE_REF = f"{DOSSIER}/collect_fee"


def started(proc, filing: dict[str, Any]) -> saga.Result:
    """A dossier of ``proc`` filed through the portal at T0 with ``filing``."""
    filed_ = DossierFiled(
        dossier_id=DOSSIER, procedure=proc.id, received_at=T0, channel=2, filed_by="portal", filing=filing
    )
    return saga.start(proc, filed_, "corr-1", ctx(T0))


def transitions(effects: list[saga.Effect]) -> list[tuple[Any, ...]]:
    return [(e.step, e.agency, e.state, e.reason) for e in effects if isinstance(e, saga.StepTransition)]


def answer(
    proc, state: SagaState, step: str, outcome: Outcome = Outcome.SUCCEEDED, reason: str | None = None, now=T0
) -> saga.Result:
    """The agency of ``step`` answers, as the sandbox would (results by action)."""
    defn = proc.step(step)
    result = RESULTS_BY_ACTION[defn.action] if outcome is Outcome.SUCCEEDED else {}
    return saga.apply_reply(
        proc,
        state,
        StepReply(step=step, action=defn.action, agency=defn.agency, outcome=outcome, result=result, reason=reason),
        ctx(now),
    )


def paid(reference: str = FEE_REF, amount: int = 200_000) -> PaymentNotification:
    return PaymentNotification(
        reference=reference, transaction_id="TXN-1", amount_vnd=amount, status="paid", paid_at=T0
    )


def criminal_record_awaiting_fee() -> SagaState:
    state, _ = started(CRIMINAL, APPLICANT)
    state, _ = answer(CRIMINAL, state, "check_vneid")
    state, _ = answer(CRIMINAL, state, "verify_applicant")
    assert state.steps["collect_fee"].status == "running"
    return state


def awaiting_documents(reason: str | None = "supply witness_statement") -> tuple[SagaState, list[saga.Effect]]:
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father")
    return saga.apply_reply(
        PROC, state, reply("register_birth", Outcome.DOCUMENTS_REQUESTED, reason=reason), ctx(T0 + timedelta(seconds=5))
    )


# --- refusals and their reasons -------------------------------------------------------------------


def test_the_status_change_sent_to_the_citizen_carries_the_refusal_reason():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, effects = saga.apply_reply(
        PROC, state, reply("verify_mother", Outcome.REJECTED, reason="unknown ID"), ctx(T0)
    )
    assert saga.StatusChange(S.NOT_ACCEPTED, "verify_mother (population): unknown ID") in effects


def test_a_refusal_without_a_reason_is_recorded_as_such_on_the_step_and_the_dossier():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    later = T0 + timedelta(seconds=2)
    state, effects = saga.apply_reply(PROC, state, reply("verify_mother", Outcome.REJECTED), ctx(later))
    assert state.reason == "verify_mother (population): no reason given"
    mother = state.steps["verify_mother"]
    assert (mother.status, mother.reason, mother.finished_at) == ("rejected", "no reason given", later)
    assert ("verify_mother", "population", "rejected", "no reason given") in transitions(effects)


def test_ending_a_dossier_cancels_each_pending_step_visibly_and_dates_it():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    later = T0 + timedelta(minutes=1)
    state, effects = saga.apply_reply(PROC, state, reply("verify_mother", Outcome.REJECTED, reason="x"), ctx(later))
    pending = ["register_birth", "assign_personal_id", "register_residence", "issue_health_card", "return_result"]
    assert [t[:3] for t in transitions(effects) if t[2] == "cancelled"] == [
        (step, PROC.step(step).agency, "cancelled") for step in pending
    ]
    assert all(state.steps[step].finished_at == later for step in pending)


# --- starting steps ---------------------------------------------------------------------------------


def test_running_and_skipped_steps_are_reported_with_their_agency():
    state, effects = saga.start(PROC, filed(FILING | {"father": None}), "corr-1", ctx(T0))
    assert transitions(effects) == [
        ("verify_mother", "population", "running", None),
        ("verify_father", "population", "skipped", None),
    ]
    assert state.steps["verify_father"].finished_at == T0


OUT_OF_ORDER = validate_procedure(
    {
        "id": "out_of_order",
        "title": "A step listed before the optional step it depends on",
        "filing": "death",
        "deadline_working_days": 5,
        "steps": [
            {
                "id": "verify_declarant",
                "agency": "population",
                "action": "verify_citizen",
                "purpose": "identity",
                "depends_on": ["verify_deceased"],
                "inputs": {"personal_id": "filing.declarant.personal_id", "full_name": "filing.declarant.full_name"},
            },
            {
                "id": "verify_deceased",
                "agency": "population",
                "action": "verify_citizen",
                "purpose": "identity",
                "skip_unless": "filing.include_residence_removal",
                "inputs": {"personal_id": "filing.deceased.personal_id", "full_name": "filing.deceased.full_name"},
            },
        ],
    },
    "out_of_order.toml",
)


def test_a_step_listed_before_a_skipped_dependency_still_starts():
    """Procedure files need not list steps in dependency order."""
    filing = {
        "include_residence_removal": False,
        "declarant": {"personal_id": "093195000123", "full_name": "A"},
        "deceased": {"personal_id": "093092000456", "full_name": "B"},
    }
    state, effects = started(OUT_OF_ORDER, filing)
    assert dispatched(effects) == ["verify_declarant"]
    assert state.steps["verify_deceased"].status == "skipped"


SKIPPABLE_INTAKE = validate_procedure(
    {
        "id": "skippable_intake",
        "title": "An intake check that may be skipped, then a step that starts processing",
        "filing": "death",
        "deadline_working_days": 5,
        "steps": [
            {
                "id": "verify_deceased",
                "agency": "population",
                "action": "verify_citizen",
                "purpose": "identity",
                "on_failure": "reject",
                "skip_unless": "filing.include_residence_removal",
                "inputs": {"personal_id": "filing.deceased.personal_id", "full_name": "filing.deceased.full_name"},
            },
            {
                "id": "verify_declarant",
                "agency": "population",
                "action": "verify_citizen",
                "purpose": "identity",
                "depends_on": ["verify_deceased"],
                "status_on_start": 4,
                "inputs": {"personal_id": "filing.declarant.personal_id", "full_name": "filing.declarant.full_name"},
            },
        ],
    },
    "skippable_intake.toml",
)


def test_a_dossier_whose_intake_steps_are_all_skipped_is_accepted_before_processing():
    filing = {
        "include_residence_removal": False,
        "declarant": {"personal_id": "093195000123", "full_name": "A"},
        "deceased": {"personal_id": "093092000456", "full_name": "B"},
    }
    _, effects = started(SKIPPABLE_INTAKE, filing)
    assert statuses(effects) == [S.NEWLY_REGISTERED, S.ACCEPTED, S.PROCESSING]


DOSSIER_INPUTS = validate_procedure(
    {
        "id": "dossier_inputs",
        "title": "A step fed from the dossier itself",
        "filing": "criminal_record",
        "deadline_working_days": 5,
        "steps": [
            {
                "id": "return_result",
                "agency": "portal",
                "action": "return_result",
                "purpose": "result",
                "manual_reversal": True,
                "inputs": {
                    "documents.code": "dossier.id",
                    "documents.procedure": "dossier.procedure",
                    "documents.received_at": "dossier.received_at",
                },
            }
        ],
    },
    "dossier_inputs.toml",
)


def test_steps_can_be_fed_the_dossier_code_procedure_and_receipt_time():
    _, effects = started(DOSSIER_INPUTS, APPLICANT)
    (command,) = [e for e in effects if isinstance(e, saga.Dispatch)]
    assert command.params == {
        "documents": {"code": DOSSIER, "procedure": "dossier_inputs", "received_at": T0.isoformat()}
    }


def test_the_first_round_key_has_no_round_suffix():
    assert saga.idempotency_key(DOSSIER, "s") == saga.idempotency_key(DOSSIER, "s", 1) == f"{DOSSIER}/s"
    assert saga.idempotency_key(DOSSIER, "s", 2) == f"{DOSSIER}/s/r2"


def test_the_state_the_saga_returns_is_what_the_table_gives_back():
    """Results are stored JSON-ready, so a restarted worker resumes from an equal state."""
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father", "register_birth")
    assert SagaState.model_validate_json(state.model_dump_json()) == state


# --- documents requested and supplied --------------------------------------------------------------


def test_a_documents_request_is_recorded_on_the_step_and_reported():
    state, effects = awaiting_documents()
    assert state.steps["register_birth"].reason == "supply witness_statement"
    assert effects[:2] == [
        saga.Exchanged(
            "register_birth", "justice", "register_birth", 1, T0, "documents_requested", effects[0].request_bytes, 0
        ),
        saga.StepTransition("register_birth", "justice", "awaiting_documents", "supply witness_statement", 5000),
    ]
    assert effects[0].request_bytes > 200  # the parents, the child, the birth notice


def test_a_documents_request_without_a_reason_still_tells_the_citizen_why():
    state, effects = awaiting_documents(reason=None)
    assert state.reason == "register_birth (justice): more documents needed"
    assert statuses(effects) == [S.DOCUMENTS_REQUESTED]


def test_a_resent_step_gets_a_fresh_reply_timeout_and_attempt_count():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father")
    state, _ = saga.apply_timeout(PROC, state, StepTimeout(step="register_birth", attempt=1), ctx(T0))
    retry_at = state.steps["register_birth"].retry_at
    state, _ = saga.apply_timeout(PROC, state, StepTimeout(step="register_birth", attempt=1), ctx(retry_at))
    assert state.steps["register_birth"].attempt == 2
    state, _ = saga.apply_reply(PROC, state, reply("register_birth", Outcome.DOCUMENTS_REQUESTED, reason="x"), ctx(T0))
    supplied_at = T0 + timedelta(days=3)
    state, effects = saga.apply_supplement(PROC, state, DossierSupplemented(documents={"w": "WS-1"}), ctx(supplied_at))
    assert ("register_birth", "justice", "running", "documents supplied") in transitions(effects)
    assert state.steps["register_birth"].reason is None
    assert saga.timers_due(PROC, state, supplied_at + timedelta(seconds=59), 60) == []
    assert saga.timers_due(PROC, state, supplied_at + timedelta(seconds=60), 60) == [("register_birth", 1)]
    # a timeout of the new round is a fresh streak of failures: retried, never final at once
    timed_out = supplied_at + timedelta(seconds=60)
    state, effects = saga.apply_timeout(
        PROC, state, StepTimeout(step="register_birth", attempt=1), ctx(timed_out, give_up_after_h=1)
    )
    assert statuses(effects) == [] and state.steps["register_birth"].failing_since == timed_out


def test_withdrawing_a_dossier_on_hold_cancels_the_held_step():
    state, _ = awaiting_documents()
    later = T0 + timedelta(days=1)
    state, effects = saga.apply_withdrawal(PROC, state, DossierWithdrawn(), ctx(later))
    held = state.steps["register_birth"]
    assert (held.status, held.finished_at) == ("cancelled", later)
    assert ("register_birth", "justice", "cancelled", None) in transitions(effects)
    assert statuses(effects) == [S.WITHDRAWN]


# --- timeouts and deadlines ---------------------------------------------------------------------------


def test_a_redispatch_is_reported_and_restarts_the_reply_timeout():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father")
    later = T0 + timedelta(seconds=60)
    assert saga.timers_due(PROC, state, later, 60) == [("register_birth", 1)]  # exactly on time counts
    state, effects = saga.apply_timeout(PROC, state, StepTimeout(step="register_birth", attempt=1), ctx(later))
    retry_at = state.steps["register_birth"].retry_at
    wait = round((retry_at - later).total_seconds())
    assert transitions(effects) == [
        ("register_birth", "justice", "retrying", f"no reply from justice to attempt 1; sending again in {wait} s")
    ]
    state, effects = saga.apply_timeout(PROC, state, StepTimeout(step="register_birth", attempt=1), ctx(retry_at))
    assert transitions(effects) == [("register_birth", "justice", "redispatched", "attempt 2")]
    assert saga.timers_due(PROC, state, retry_at + timedelta(seconds=59), 60) == []
    assert saga.timers_due(PROC, state, retry_at + timedelta(seconds=60), 60) == [("register_birth", 2)]


def test_timeouts_for_unknown_steps_or_ended_dossiers_change_nothing():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father")
    assert saga.apply_timeout(PROC, state, StepTimeout(step="no_such_step", attempt=1), ctx(T0)) == (state, [])
    state, _ = saga.apply_withdrawal(PROC, state, DossierWithdrawn(), ctx(T0))
    assert state.steps["register_birth"].status == "running"  # still in flight at justice
    assert saga.apply_timeout(PROC, state, StepTimeout(step="register_birth", attempt=1), ctx(T0)) == (state, [])


def test_an_overdue_dossier_keeps_the_new_date_it_was_promised():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    late = T0 + timedelta(days=30)
    state, effects = saga.apply_overdue(PROC, state, DeadlinePassed(), ctx(late))
    (notice,) = effects
    assert state.overdue and state.new_due_date is not None
    assert notice.new_due_date == state.new_due_date.isoformat()


# --- payments and compensations ------------------------------------------------------------------------


def test_a_payment_before_it_was_requested_or_for_another_dossier_is_refused():
    state, _ = started(CRIMINAL, APPLICANT)
    with pytest.raises(PaymentMismatch, match="unknown payment reference"):
        saga.apply_payment(CRIMINAL, state, paid(), ctx(T0))  # collect_fee has not started
    state = criminal_record_awaiting_fee()
    other = "000.00.31.H26-261120-0002/collect_fee"
    with pytest.raises(PaymentMismatch, match="unknown payment reference"):
        saga.apply_payment(CRIMINAL, state, paid(reference=other), ctx(T0))
    state, _ = saga.apply_payment(CRIMINAL, state, paid(), ctx(T0))
    assert state.steps["collect_fee"].status == "succeeded"


def test_a_fee_requested_again_after_documents_is_paid_under_the_new_round_reference():
    state = criminal_record_awaiting_fee()
    state, _ = answer(CRIMINAL, state, "collect_fee", Outcome.DOCUMENTS_REQUESTED, "supply the invoice address")
    state, effects = saga.apply_supplement(CRIMINAL, state, DossierSupplemented(documents={"a": "b"}), ctx(T0))
    (again,) = [e for e in effects if isinstance(e, saga.Dispatch)]
    assert again.idempotency_key == f"{FEE_REF}/r2"
    state, _ = saga.apply_payment(CRIMINAL, state, paid(reference=f"{FEE_REF}/r2"), ctx(T0))
    assert state.steps["collect_fee"].status == "succeeded"


def test_a_withdrawal_after_the_records_check_still_refunds_the_fee():
    state = criminal_record_awaiting_fee()
    state, _ = saga.apply_payment(CRIMINAL, state, paid(), ctx(T0))
    state, _ = answer(CRIMINAL, state, "check_records")
    state, effects = saga.apply_withdrawal(CRIMINAL, state, DossierWithdrawn(), ctx(T0))
    (refund,) = [e for e in effects if isinstance(e, saga.Dispatch)]
    assert (refund.step, refund.agency, refund.action) == ("collect_fee:compensate", "payment", "refund_payment")
    assert ("collect_fee:compensate", "payment", "running", None) in transitions(effects)


def test_a_payment_failing_after_the_withdrawal_is_not_refunded():
    state = criminal_record_awaiting_fee()
    state, _ = saga.apply_withdrawal(CRIMINAL, state, DossierWithdrawn(), ctx(T0))
    state, effects = answer(CRIMINAL, state, "collect_fee", Outcome.FAILED, "card declined")
    assert dispatched(effects) == [] and state.compensations == {}
    assert state.steps["collect_fee"].status == "failed" and state.status == S.WITHDRAWN


def refund_requested() -> SagaState:
    state = criminal_record_awaiting_fee()
    state, _ = saga.apply_payment(CRIMINAL, state, paid(), ctx(T0))
    state, _ = saga.apply_withdrawal(CRIMINAL, state, DossierWithdrawn(), ctx(T0))
    assert state.compensations["collect_fee"].status == "running"
    return state


def refund_reply(outcome: Outcome, reason: str | None = None) -> StepReply:
    result = RESULTS_BY_ACTION["refund_payment"] if outcome is Outcome.SUCCEEDED else {}
    return StepReply(
        step="collect_fee:compensate",
        action="refund_payment",
        agency="payment",
        outcome=outcome,
        result=result,
        reason=reason,
    )


def test_a_refused_refund_is_recorded_with_its_reason_for_the_operator():
    requested = refund_requested()
    state, effects = saga.apply_reply(CRIMINAL, requested, refund_reply(Outcome.REJECTED, "account closed"), ctx(T0))
    assert state.compensations["collect_fee"] == requested.compensations["collect_fee"].model_copy(
        update={"status": "rejected", "reason": "account closed"}
    )
    assert effects[1:] == [saga.StepTransition("collect_fee:compensate", "payment", "rejected", "account closed")]
    assert (effects[0].step, effects[0].outcome) == ("collect_fee:compensate", "rejected")


def test_a_refund_result_is_kept_and_a_repeated_or_unexpected_refund_reply_changes_nothing():
    state, _ = saga.apply_reply(CRIMINAL, refund_requested(), refund_reply(Outcome.SUCCEEDED), ctx(T0))
    assert state.compensations["collect_fee"].result == RESULTS_BY_ACTION["refund_payment"]
    assert saga.apply_reply(CRIMINAL, state, refund_reply(Outcome.SUCCEEDED), ctx(T0)) == (state, [])
    never = criminal_record_awaiting_fee()  # nothing was ever refunded
    assert saga.apply_reply(CRIMINAL, never, refund_reply(Outcome.SUCCEEDED), ctx(T0)) == (never, [])


# --- the router ------------------------------------------------------------------------------------------


def envelope(type_: str, data: Any, source: str = "/agency/portal", key: str | None = None) -> Envelope:
    return Envelope(
        source=source,
        type=type_,
        subject=DOSSIER,
        correlationid="corr-1",
        idempotencykey=key,
        data=data.model_dump(mode="json"),
    )


def test_the_router_says_why_a_repeated_event_changed_nothing():
    routed = router.route(envelope(DOSSIER_FILED, filed()), None, CATALOG, ctx(T0))
    assert routed.state is not None and routed.effects
    again = router.route(envelope(DOSSIER_FILED, filed()), routed.state, CATALOG, ctx(T0))
    assert again == router.Routed(None, [], "duplicate filing ignored")
    duplicate = router.route(
        envelope(
            STEP_REPLY, reply("register_birth"), "/agency/justice", saga.idempotency_key(DOSSIER, "register_birth")
        ),
        routed.state,
        CATALOG,
        ctx(T0),
    )
    assert duplicate == router.Routed(None, [], "duplicate reply ignored")


# --- source paths --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dossier.nope", "'dossier.nope' is not one of dossier.id, dossier.procedure, dossier.received_at"),
        ("dossier.id.more", "'dossier.id.more' is not one of dossier.id, dossier.procedure, dossier.received_at"),
        ("steps", "source 'steps' must start with 'filing.', 'steps.' or 'dossier.'"),
        ("results.x", "source 'results.x' must start with 'filing.', 'steps.' or 'dossier.'"),
    ],
)
def test_a_malformed_source_path_is_refused_with_what_paths_may_look_like(text, message):
    with pytest.raises(CatalogError) as info:
        SourcePath.parse(text)
    assert str(info.value) == message


def test_source_paths_resolve_against_the_dossier_the_filing_and_earlier_results():
    dossier, filing = {"id": DOSSIER, "procedure": "p", "received_at": "t"}, {"a": {"b": 1}}
    assert SourcePath.parse("dossier.id") == SourcePath("dossier", None, ("id",))
    assert SourcePath.parse("filing") == SourcePath("filing", None, ())
    assert resolve("dossier.procedure", dossier, filing, {}) == "p"
    assert resolve("filing", dossier, filing, {}) == filing
    assert resolve("steps.s.x", dossier, filing, {"s": {"x": 2}}) == 2
    assert resolve("filing.a.b.c", dossier, filing, {}) is None


def test_an_input_with_no_value_is_left_out_and_the_others_kept():
    values = {"filing.missing": None, "filing.present": "v"}
    params = build_params(
        {"first": "filing.missing", "second": "filing.present", "nested.third": 3}, values.__getitem__
    )
    assert params == {"second": "v", "nested": {"third": 3}}


# --- trust: who may answer, what is kept, what is forgotten -------------------------------------------------


def test_a_documents_request_quoting_the_mother_reaches_the_citizen_without_her_id_or_name():
    state, effects = awaiting_documents("Trần Thị Lan (093195000123) must bring the hospital's birth notice")
    expected = "register_birth (justice): *** (***) must bring the hospital's birth notice"
    assert state.reason == expected
    assert [e.reason for e in effects if isinstance(e, saga.StatusChange)] == [expected]


def test_a_reply_under_the_previous_rounds_key_no_longer_counts():
    state, _ = awaiting_documents()
    state, _ = saga.apply_supplement(PROC, state, DossierSupplemented(documents={"w": "WS-1"}), ctx(T0))
    old_key = saga.idempotency_key(DOSSIER, "register_birth")
    with pytest.raises(NotEntitled, match=r"the step was sent '.*register_birth/r2'"):
        saga.admit_reply(PROC, state, reply("register_birth"), "justice", old_key)
    saga.admit_reply(
        PROC, state, reply("register_birth"), "justice", saga.idempotency_key(DOSSIER, "register_birth", 2)
    )


def test_a_reply_naming_another_agency_than_its_outbox_is_refused():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    answer = reply("verify_mother").model_copy(update={"agency": "justice"})
    with pytest.raises(NotEntitled, match="the step was sent to population"):
        saga.admit_reply(PROC, state, answer, "population", saga.idempotency_key(DOSSIER, "verify_mother"))


def test_a_saga_waiting_on_a_refund_is_not_forgotten():
    state = refund_requested()
    later = ctx(T0 + timedelta(days=400))
    assert state.done and not saga.expired(state, later)
    refunded, _ = saga.apply_reply(CRIMINAL, state, refund_reply(Outcome.SUCCEEDED), ctx(T0))
    assert saga.expired(refunded, later) and not saga.expired(refunded, ctx(T0 + timedelta(days=29)))


def test_documents_are_supplied_only_by_the_filer_or_the_portal():
    state, _ = awaiting_documents()  # filed by justice
    documents = DossierSupplemented(documents={"witness_statement": "WS-1"})
    for stranger in ("onestop", "tax"):
        with pytest.raises(NotEntitled, match=f"{stranger} may not supplement a birth_bundle dossier filed by justice"):
            router.route(envelope(DOSSIER_SUPPLEMENTED, documents, f"/agency/{stranger}"), state, CATALOG, ctx(T0))
    for entitled in ("justice", "portal"):
        routed = router.route(envelope(DOSSIER_SUPPLEMENTED, documents, f"/agency/{entitled}"), state, CATALOG, ctx(T0))
        assert routed.state is not None and routed.state.status is S.PROCESSING


def test_a_withdrawal_reason_naming_the_mother_is_stored_without_her_name():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    withdrawn = DossierWithdrawn(reason="Trần Thị Lan moved to Hà Nội")
    state, _ = saga.apply_withdrawal(PROC, state, withdrawn, ctx(T0))
    assert state.reason == "*** moved to Hà Nội"


def test_the_router_says_why_a_saga_was_not_forgotten_yet():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    expiry = envelope(SAGA_EXPIRED, SagaExpired(), "/hub/sweeper")
    assert router.route(expiry, state, CATALOG, ctx(T0 + timedelta(days=400))) == router.Routed(
        None, [], "not finished, or finished too recently, to forget"
    )
