from datetime import UTC, date, datetime, timedelta

from contracts.catalog import builtin_catalog
from contracts.events import (
    DeadlinePassed,
    DossierFiled,
    DossierSupplemented,
    DossierWithdrawn,
    Outcome,
    StepReply,
    StepTimeout,
)
from contracts.status import DossierStatus as S
from contracts.working_days import WorkingCalendar, load_calendar
from streams import saga
from tests.unit.fakes import retry_policies

PROC = builtin_catalog()["birth_bundle"]
CAL = load_calendar()


def ctx(now, calendar=CAL, apology_extension_days=2, saga_retention_days=30, **retry):
    return saga.Context(
        now=now,
        calendar=calendar,
        retry=retry_policies(**retry),
        apology_extension_days=apology_extension_days,
        saga_retention_days=saga_retention_days,
    )


T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
DOSSIER = "000.00.31.H26-261120-0001"
FILING = {
    "birth_notice_no": "GCS-1",
    "child": {"full_name": "Lê Minh Khang", "date_of_birth": "2026-11-15", "sex": "male", "place_of_birth": "BV"},
    "mother": {"full_name": "Trần Thị Lan", "personal_id": "093195000123", "date_of_birth": "1995-05-05"},
    "father": {"full_name": "Lê Văn Hùng", "personal_id": "093092000456", "date_of_birth": None},
    "residence": {
        "commune_code": "31360",
        "commune_name": "xã Thạnh Xuân",
        "province_code": "92",
        "former_commune_code": "31359",
        "street": None,
    },
}
RESULTS = {
    "verify_mother": {
        "personal_id": "093195000123",
        "full_name": "Trần Thị Lan",
        "date_of_birth": "1995-05-05",
        "sex": "female",
        "commune_code": "31360",
    },
    "verify_father": {
        "personal_id": "093092000456",
        "full_name": "Lê Văn Hùng",
        "date_of_birth": "1992-01-01",
        "sex": "male",
        "commune_code": "31360",
    },
    "register_birth": {"birth_certificate_no": "KS-1", "registered_at": "2026-11-20T08:00:00Z"},
    "assign_personal_id": {
        "personal_id": "092226000001",
        "full_name": "Lê Minh Khang",
        "date_of_birth": "2026-11-15",
        "sex": "male",
    },
    "register_residence": {
        "residence_id": "TT-1",
        "personal_id": "092226000001",
        "commune_code": "31360",
        "registered_at": "2026-11-20T08:00:00Z",
    },
    "issue_health_card": {
        "card_number": "TE1922226000001",
        "beneficiary_group": "TE",
        "valid_from": "2026-11-15",
        "valid_to": "2032-11-14",
    },
    "return_result": {"returned_at": "2026-11-20T08:00:00Z"},
}


def filed(filing=FILING):
    return filed_at(T0, filing)


def filed_at(received_at, filing=FILING):
    return DossierFiled(
        dossier_id=DOSSIER,
        procedure="birth_bundle",
        received_at=received_at,
        channel=2,
        filed_by="justice",
        filing=filing,
    )


def reply(step, outcome=Outcome.SUCCEEDED, result=None, reason=None):
    agency = PROC.step(step).agency
    return StepReply(
        step=step,
        action=PROC.step(step).action,
        agency=agency,
        outcome=outcome,
        result=RESULTS[step] if result is None and outcome is Outcome.SUCCEEDED else (result or {}),
        reason=reason,
    )


def dispatched(effects):
    return [e.step for e in effects if isinstance(e, saga.Dispatch)]


def statuses(effects):
    return [e.status for e in effects if isinstance(e, saga.StatusChange)]


def run(state, *steps, now=T0):
    effects = []
    for step in steps:
        state, more = saga.apply_reply(PROC, state, reply(step), ctx(now))
        effects += more
    return state, effects


def test_filing_registers_dossier_and_verifies_both_parents_in_parallel():
    state, effects = saga.start(PROC, filed(), "corr-1", ctx(T0))
    assert statuses(effects) == [S.NEWLY_REGISTERED]
    assert dispatched(effects) == ["verify_mother", "verify_father"]
    assert state.status == S.NEWLY_REGISTERED


def test_happy_path_moves_through_the_portal_statuses_to_result_returned():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, e1 = run(state, "verify_mother")
    assert dispatched(e1) == [] and statuses(e1) == []  # still waiting for the father
    state, e2 = run(state, "verify_father")
    assert statuses(e2) == [S.ACCEPTED, S.PROCESSING]
    assert dispatched(e2) == ["register_birth"]
    state, e3 = run(state, "register_birth", "assign_personal_id")
    assert dispatched(e3) == ["assign_personal_id", "register_residence", "issue_health_card"]
    state, e4 = run(state, "issue_health_card", "register_residence")
    assert statuses(e4) == [S.PROCESSED] and dispatched(e4) == ["return_result"]
    state, e5 = run(state, "return_result")
    assert statuses(e5) == [S.RESULT_RETURNED]
    assert state.done and all(s.status == "succeeded" for s in state.steps.values())


def test_commands_carry_only_the_declared_inputs_and_a_stable_idempotency_key():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, effects = run(state, "verify_mother", "verify_father")
    (command,) = [e for e in effects if isinstance(e, saga.Dispatch)]
    assert command.params == {
        "birth_notice_no": "GCS-1",
        "child_full_name": "Lê Minh Khang",
        "child_date_of_birth": "2026-11-15",
        "child_sex": "male",
        "place_of_birth": "BV",
        "commune_code": "31360",
        "mother": {"full_name": "Trần Thị Lan", "personal_id": "093195000123"},
        "father": {"full_name": "Lê Văn Hùng", "personal_id": "093092000456"},
    }
    assert command.idempotency_key == f"{DOSSIER}/register_birth"
    state, effects = run(state, "register_birth", "assign_personal_id")
    card = next(e for e in effects if isinstance(e, saga.Dispatch) and e.step == "issue_health_card")
    assert card.params["personal_id"] == "092226000001"  # taken from the earlier step's result
    assert "mother" not in card.params


def test_missing_father_skips_his_verification_and_omits_him_from_registration():
    state, effects = saga.start(PROC, filed(FILING | {"father": None}), "corr-1", ctx(T0))
    assert dispatched(effects) == ["verify_mother"]
    assert state.steps["verify_father"].status == "skipped"
    state, effects = run(state, "verify_mother")
    (command,) = [e for e in effects if isinstance(e, saga.Dispatch)]
    assert "father" not in command.params


def test_unknown_mother_means_not_accepted_with_the_reason_and_pending_steps_cancelled():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, effects = saga.apply_reply(
        PROC,
        state,
        reply("verify_mother", Outcome.REJECTED, reason="personal ID 093195000123 is not in the population registry"),
        ctx(T0),
    )
    assert statuses(effects) == [S.NOT_ACCEPTED]
    assert state.reason == "verify_mother (population): personal ID *** is not in the population registry"
    assert state.steps["register_birth"].status == "cancelled"
    # the father's verification was in flight: its late reply is recorded but moves nothing
    state, late = run(state, "verify_father")
    assert statuses(late) == [] and dispatched(late) == []
    assert state.steps["verify_father"].status == "succeeded"
    assert state.status == S.NOT_ACCEPTED


def test_a_refusal_after_acceptance_stops_processing():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father", "register_birth", "assign_personal_id")
    state, effects = saga.apply_reply(
        PROC,
        state,
        reply("issue_health_card", Outcome.REJECTED, reason="the child already holds a card"),
        ctx(T0),
    )
    assert statuses(effects) == [S.PROCESSING_STOPPED]
    assert state.steps["return_result"].status == "cancelled"
    assert state.steps["register_residence"].status == "running"  # in flight, not cancelled


def test_an_invalid_result_from_an_agency_fails_the_step():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father", "register_birth")
    bad = RESULTS["assign_personal_id"] | {"sex": "female"}  # ID digit 2 says male
    state, effects = saga.apply_reply(PROC, state, reply("assign_personal_id", result=bad), ctx(T0))
    assert statuses(effects) == [S.PROCESSING_STOPPED]
    assert "population returned an invalid result" in state.reason
    assert "century/gender digit 2" in state.reason


def test_duplicate_and_unknown_replies_change_nothing():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother")
    before = repr(state)
    for duplicate in (reply("verify_mother"), reply("register_birth")):
        state, effects = saga.apply_reply(PROC, state, duplicate, ctx(T0))
        assert effects == []
    assert repr(state) == before


def test_step_durations_are_reported_when_steps_end():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, effects = run(state, "verify_mother", now=T0 + timedelta(milliseconds=250))
    (transition,) = [e for e in effects if isinstance(e, saga.StepTransition)]
    assert (transition.step, transition.state, transition.duration_ms) == ("verify_mother", "succeeded", 250)


def test_a_technical_failure_at_intake_neither_refuses_nor_stops_the_dossier():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, effects = saga.apply_reply(
        PROC, state, reply("verify_mother", Outcome.FAILED, reason="population unavailable after 3 attempts"), ctx(T0)
    )
    assert statuses(effects) == [] and state.status == S.NEWLY_REGISTERED
    assert state.steps["verify_mother"].status == "running"


def stuck(effects: list[saga.Effect]) -> list[saga.Stuck]:
    return [e for e in effects if isinstance(e, saga.Stuck)]


def test_a_step_without_reply_is_sent_again_with_the_same_key_until_the_policy_gives_up():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father")
    later = T0 + timedelta(seconds=61)
    assert saga.timers_due(PROC, state, T0 + timedelta(seconds=59), 60) == []
    assert saga.timers_due(PROC, state, later, 60) == [("register_birth", 1)]

    # silence is a technical failure: the step waits (first_delay_s 5 → 2.5 to 5 s), then goes again
    state, effects = saga.apply_timeout(PROC, state, StepTimeout(step="register_birth", attempt=1), ctx(later))
    assert dispatched(effects) == [] and statuses(effects) == []
    assert stuck(effects) == [saga.Stuck("register_birth", "justice", 1, 61.0)]  # operators are told once
    retry_at = state.steps["register_birth"].retry_at
    assert later + timedelta(seconds=2.5) <= retry_at <= later + timedelta(seconds=5)
    assert saga.timers_due(PROC, state, retry_at - timedelta(milliseconds=1), 60) == []
    assert saga.apply_timeout(PROC, state, StepTimeout(step="register_birth", attempt=1), ctx(later)) == (state, [])
    assert saga.timers_due(PROC, state, retry_at, 60) == [("register_birth", 1)]
    state, effects = saga.apply_timeout(PROC, state, StepTimeout(step="register_birth", attempt=1), ctx(retry_at))
    (again,) = [e for e in effects if isinstance(e, saga.Dispatch)]
    assert again.idempotency_key == f"{DOSSIER}/register_birth"
    assert state.steps["register_birth"].attempt == 2
    assert saga.apply_timeout(PROC, state, StepTimeout(step="register_birth", attempt=1), ctx(retry_at)) == (state, [])
    _, effects = saga.apply_timeout(
        PROC, state, StepTimeout(step="register_birth", attempt=2), ctx(retry_at + timedelta(seconds=61))
    )
    assert stuck(effects) == []  # the same run of failures: no second alert

    # an hour of silence later, a one-hour policy gives up: the step fails and the dossier stops
    hour_later = later + timedelta(hours=1)
    state, effects = saga.apply_timeout(
        PROC, state, StepTimeout(step="register_birth", attempt=2), ctx(hour_later, give_up_after_h=1)
    )
    assert statuses(effects) == [S.PROCESSING_STOPPED]
    assert state.reason == "register_birth (justice): gave up after 1 h: no reply from justice to attempt 2"
    assert state.steps["register_birth"].gave_up_at == hour_later


def test_a_reply_after_a_redispatch_completes_the_step_once():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father")
    state, _ = saga.apply_timeout(
        PROC, state, StepTimeout(step="register_birth", attempt=1), ctx(T0 + timedelta(seconds=61))
    )
    state, first = run(state, "register_birth")
    state, second = run(state, "register_birth")
    assert dispatched(first) == ["assign_personal_id"] and second == []


def test_due_dates_come_from_working_days_and_overdue_is_flagged_once_with_a_new_date():
    cal = WorkingCalendar(days_off=frozenset({date(2026, 4, 27), date(2026, 4, 30), date(2026, 5, 1)}))
    friday_late = datetime(2026, 4, 24, 8, 30, tzinfo=UTC)  # 15:30 in Vietnam
    state, _ = saga.start(PROC, filed_at(friday_late), "corr-1", ctx(friday_late, cal))
    assert state.due_date == date(2026, 5, 4)
    state, _ = run(state, "verify_mother", "verify_father", now=friday_late)
    assert state.steps["register_birth"].due_date == date(2026, 4, 28)  # 1 working day, from Tuesday

    tuesday_night = datetime(2026, 4, 28, 16, 0, tzinfo=UTC)  # 23:00 local: register_birth not late yet
    assert saga.overdue_targets(state, tuesday_night, cal) == []
    wednesday = datetime(2026, 4, 29, 2, 0, tzinfo=UTC)
    assert saga.overdue_targets(state, wednesday, cal) == ["register_birth"]
    state, effects = saga.apply_overdue(PROC, state, DeadlinePassed(step="register_birth"), ctx(wednesday, cal))
    assert effects == [saga.Overdue("register_birth", "justice", "2026-04-28")]
    assert saga.apply_overdue(PROC, state, DeadlinePassed(step="register_birth"), ctx(wednesday, cal))[1] == []  # once

    tuesday_after = datetime(2026, 5, 5, 2, 0, tzinfo=UTC)  # 09:00 local on 5 May
    assert saga.overdue_targets(state, tuesday_after, cal) == [None]
    state, effects = saga.apply_overdue(PROC, state, DeadlinePassed(), ctx(tuesday_after, cal))
    assert effects == [saga.Overdue(None, None, "2026-05-04", "2026-05-06")]
    assert state.overdue and saga.overdue_targets(state, tuesday_after, cal) == []


def test_finished_dossiers_are_never_overdue():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = saga.apply_reply(PROC, state, reply("verify_mother", Outcome.REJECTED, reason="unknown"), ctx(T0))
    much_later = T0 + timedelta(days=60)
    assert saga.overdue_targets(state, much_later, CAL) == []
    assert saga.apply_overdue(PROC, state, DeadlinePassed(), ctx(much_later))[1] == []


def test_documents_requested_round_trip_sends_the_step_again_with_the_documents_under_a_new_key():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father")
    state, effects = saga.apply_reply(
        PROC, state, reply("register_birth", Outcome.DOCUMENTS_REQUESTED, reason="supply witness_statement"), ctx(T0)
    )
    assert statuses(effects) == [S.DOCUMENTS_REQUESTED]
    assert state.reason == "register_birth (justice): supply witness_statement"
    assert saga.timers_due(PROC, state, T0 + timedelta(days=1), 60) == []  # waiting on the citizen, not the agency

    state, effects = saga.apply_supplement(
        PROC, state, DossierSupplemented(documents={"witness_statement": "WS-1"}), ctx(T0)
    )
    assert statuses(effects) == [S.PROCESSING]
    (again,) = [e for e in effects if isinstance(e, saga.Dispatch)]
    assert again.idempotency_key == f"{DOSSIER}/register_birth/r2"
    assert again.supplement == {"witness_statement": "WS-1"}
    state, effects = run(state, "register_birth")
    assert dispatched(effects) == ["assign_personal_id"]
    assert (
        saga.apply_supplement(PROC, state, DossierSupplemented(documents={"x": "y"}), ctx(T0))[1] == []
    )  # nothing is waiting any more


def test_withdrawal_mid_flight_stops_the_dossier_and_late_replies_move_nothing():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father")
    state, effects = saga.apply_withdrawal(PROC, state, DossierWithdrawn(reason="the family moved"), ctx(T0))
    assert statuses(effects) == [S.WITHDRAWN] and state.reason == "the family moved"
    assert state.steps["assign_personal_id"].status == "cancelled"
    assert state.steps["register_birth"].status == "running"  # in flight at the agency
    state, late = run(state, "register_birth")
    assert statuses(late) == [] and dispatched(late) == []
    assert saga.apply_withdrawal(PROC, state, DossierWithdrawn(reason="again"), ctx(T0))[1] == []
