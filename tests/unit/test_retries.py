"""Technical failures are never terminal: retries under each agency's policy, the circuit breaker
in front of bridged agencies, late answers reconciled and records reversed by hand when no
message undoes them (issue 8, items 1 and 2)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from circuitbreaker import CircuitBreaker

from connectors.base import perform
from contracts.agencies import REGISTRY_FILE, load_registry
from contracts.errors import AgencyRejected, AgencyUnavailable, CatalogError
from contracts.events import DossierWithdrawn, Outcome, StepCommand, StepReply, StepTimeout
from contracts.retry import RetryPolicy
from contracts.status import DossierStatus as S
from streams import saga
from streams.saga_state import SagaState
from tests.unit.test_assembly import settings
from tests.unit.test_saga import PROC, T0, ctx, dispatched, filed, reply, run, statuses
from tests.unit.test_saga_rules import (
    CRIMINAL,
    FEE_REF,
    criminal_record_awaiting_fee,
    paid,
    refund_reply,
    refund_requested,
    transitions,
)

# --- the policy -------------------------------------------------------------------------------------


def test_delays_double_up_to_the_cap_with_jitter_drawn_from_the_key():
    policy = RetryPolicy(first_delay_s=5, max_delay_s=60)
    for failures, base in [(1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (50, 60)]:
        delay = policy.delay(failures, "D/step").total_seconds()
        assert base / 2 <= delay <= base, (failures, delay)
    assert policy.delay(3, "D/step") == policy.delay(3, "D/step")  # a pure function of its inputs
    spread = {policy.delay(3, f"D{n}/step") for n in range(20)}
    assert len(spread) == 20  # dossiers failing together do not come back together


def test_an_agency_policy_overrides_the_hub_defaults_and_a_bad_override_fails_at_load(tmp_path):
    assert settings(tmp_path).retry_policy("insurance").max_delay_s == 1800  # the registry's override
    assert settings(tmp_path, retry_max_delay_s=90).retry_policy("population").max_delay_s == 90
    registry = tmp_path / "agencies.toml"
    registry.write_text(REGISTRY_FILE.read_text("utf-8").replace("max_delay_s = 1800", "max_delay = 1800"), "utf-8")
    with pytest.raises(CatalogError, match=r"agencies\.insurance\.max_delay: Extra inputs are not permitted"):
        load_registry(registry)


# --- steps ------------------------------------------------------------------------------------------


def failing(state: SagaState, step: str, now, **policy) -> tuple[SagaState, list[saga.Effect]]:
    failed = reply(step, Outcome.FAILED, reason="insurance unavailable")
    return saga.apply_reply(PROC, state, failed, ctx(now, **policy))


def given_up(state: SagaState, step: str) -> tuple[SagaState, list[saga.Effect]]:
    """``step`` fails at T0, is sent again when its retry time comes, and fails an hour later,
    when a one-hour policy gives up on it."""
    state, _ = failing(state, step, T0, give_up_after_h=1)
    state, _ = saga.apply_timeout(PROC, state, StepTimeout(step=step, attempt=1), ctx(state.steps[step].retry_at))
    return failing(state, step, T0 + timedelta(hours=1), give_up_after_h=1)


def health_card_running() -> SagaState:
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father", "register_birth", "assign_personal_id")
    assert state.steps["issue_health_card"].status == "running"
    return state


def test_an_agency_down_for_hours_delays_the_step_but_the_dossier_completes():
    state = health_card_running()
    now, sends = T0, 1
    for _ in range(12):  # twelve failures, the delay growing to its ten-minute cap
        state, effects = failing(state, "issue_health_card", now)
        assert statuses(effects) == [] and transitions(effects)[0][2] == "retrying"
        again_at = state.steps["issue_health_card"].retry_at
        state, effects = saga.apply_timeout(
            PROC, state, StepTimeout(step="issue_health_card", attempt=sends), ctx(again_at)
        )
        assert dispatched(effects) == ["issue_health_card"]
        now, sends = again_at, sends + 1
    assert timedelta(minutes=5) <= now - T0 <= timedelta(hours=2)
    state, effects = run(state, "issue_health_card", "register_residence", now=now)
    state, effects = run(state, "return_result", now=now)
    assert state.status == S.RESULT_RETURNED


def test_a_repeated_failure_of_the_same_send_does_not_postpone_or_double_the_retry():
    state, _ = failing(health_card_running(), "issue_health_card", T0)
    assert failing(state, "issue_health_card", T0 + timedelta(seconds=1)) == (state, [])


def test_a_step_the_policy_gave_up_on_fails_for_good_and_stops_the_dossier():
    state, effects = given_up(health_card_running(), "issue_health_card")
    assert statuses(effects) == [S.PROCESSING_STOPPED]
    assert state.reason == "issue_health_card (insurance): gave up after 1 h: insurance unavailable"


# --- late answers -----------------------------------------------------------------------------------


def given_up_birth() -> SagaState:
    """register_birth given up after an outage: the dossier stopped (8)."""
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father")
    state, _ = given_up(state, "register_birth")
    assert state.status == S.PROCESSING_STOPPED and state.steps["register_birth"].status == "failed"
    return state


def test_a_success_after_the_hub_gave_up_is_recorded_and_flagged_for_reversal_by_hand():
    state = given_up_birth()
    later = T0 + timedelta(hours=3)
    state, effects = saga.apply_reply(PROC, state, reply("register_birth"), ctx(later))
    assert state.steps["register_birth"].status == "succeeded"
    assert transitions(effects) == [
        (
            "register_birth",
            "justice",
            "late_success",
            "succeeded after the hub gave up: gave up after 1 h: insurance unavailable",
        ),
        (
            "register_birth:compensate",
            "justice",
            "manual_reversal",
            "justice has no message to undo register_birth: an officer must reverse it",
        ),
    ]
    assert state.compensations["register_birth"].status == "manual_reversal"
    assert statuses(effects) == [] and state.status == S.PROCESSING_STOPPED  # the citizen was told; it stands
    assert saga.apply_reply(PROC, state, reply("register_birth"), ctx(later)) == (state, [])  # once


def test_a_step_that_fails_after_its_dossier_ended_still_has_a_late_success_reconciled():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father")
    state, _ = saga.apply_withdrawal(PROC, state, DossierWithdrawn(), ctx(T0))
    state, _ = failing(state, "register_birth", T0)  # no retry: the dossier has ended
    assert state.steps["register_birth"].status == "failed"
    state, effects = saga.apply_reply(PROC, state, reply("register_birth"), ctx(T0 + timedelta(hours=1)))
    assert [t[2] for t in transitions(effects)] == ["late_success", "manual_reversal"]


def test_a_refusal_after_the_hub_gave_up_changes_nothing():
    state = given_up_birth()
    late = reply("register_birth", Outcome.REJECTED, reason="duplicate birth notice")
    assert saga.apply_reply(PROC, state, late, ctx(T0 + timedelta(hours=3))) == (state, [])


def test_a_payment_made_after_the_hub_gave_up_on_it_is_refunded():
    state = criminal_record_awaiting_fee()
    day = timedelta(days=1)
    silence = StepTimeout(step="collect_fee", attempt=1)
    state, _ = saga.apply_timeout(CRIMINAL, state, silence, ctx(T0 + day, give_up_after_h=24))
    again_at = state.steps["collect_fee"].retry_at
    state, _ = saga.apply_timeout(CRIMINAL, state, silence, ctx(again_at, give_up_after_h=24))
    state, effects = saga.apply_timeout(
        CRIMINAL, state, StepTimeout(step="collect_fee", attempt=2), ctx(again_at + day, give_up_after_h=24)
    )
    assert statuses(effects) == [S.PROCESSING_STOPPED]

    state, effects = saga.apply_payment(CRIMINAL, state, paid(), ctx(again_at + 2 * day))
    assert ("collect_fee", "payment", "late_success") in [t[:3] for t in transitions(effects)]
    (refund,) = [e for e in effects if isinstance(e, saga.Dispatch)]
    assert (refund.action, refund.idempotency_key) == ("refund_payment", f"{FEE_REF}/compensate")
    assert refund.params == {"transaction_id": "TXN-1", "amount_vnd": 200_000}


def test_a_dossier_ending_after_records_were_made_flags_each_for_reversal_latest_first():
    state, _ = saga.start(PROC, filed(), "corr-1", ctx(T0))
    state, _ = run(state, "verify_mother", "verify_father", "register_birth", "assign_personal_id")
    state, effects = saga.apply_withdrawal(PROC, state, DossierWithdrawn(), ctx(T0))
    assert [t[0] for t in transitions(effects) if t[2] == "manual_reversal"] == [
        "assign_personal_id:compensate",
        "register_birth:compensate",
    ]  # the lookups (verify_*) leave no record


# --- compensations ----------------------------------------------------------------------------------


def test_a_refund_that_fails_technically_is_sent_again_until_the_policy_gives_up():
    state = refund_requested()
    state, effects = saga.apply_reply(CRIMINAL, state, refund_reply(Outcome.FAILED, "HTTP 503"), ctx(T0))
    assert transitions(effects)[0][:3] == ("collect_fee:compensate", "payment", "retrying")
    entry = state.compensations["collect_fee"]
    assert entry.status == "running" and entry.retry_at is not None

    # the sweeper times compensations of a finished dossier too
    assert saga.timers_due(CRIMINAL, state, entry.retry_at, 60) == [("collect_fee:compensate", 1)]
    state, effects = saga.apply_timeout(
        CRIMINAL, state, StepTimeout(step="collect_fee:compensate", attempt=1), ctx(entry.retry_at)
    )
    (again,) = [e for e in effects if isinstance(e, saga.Dispatch)]
    assert (again.step, again.idempotency_key) == ("collect_fee:compensate", f"{FEE_REF}/compensate")
    assert state.compensations["collect_fee"].attempt == 2

    # silence for the reply timeout is a failure too; after the policy's hours it is handed to an officer
    sent = state.compensations["collect_fee"].sent_at
    assert saga.timers_due(CRIMINAL, state, sent + timedelta(seconds=60), 60) == [("collect_fee:compensate", 2)]
    state, effects = saga.apply_timeout(
        CRIMINAL,
        state,
        StepTimeout(step="collect_fee:compensate", attempt=2),
        ctx(T0 + timedelta(hours=48)),
    )
    assert state.compensations["collect_fee"].status == "failed"
    assert transitions(effects) == [
        (
            "collect_fee:compensate",
            "payment",
            "failed",
            "gave up after 48 h: no reply from payment to attempt 2; an officer must reverse it",
        )
    ]
    assert saga.timers_due(CRIMINAL, state, T0 + timedelta(days=3), 60) == []


def test_a_stale_or_early_compensation_timer_changes_nothing():
    state = refund_requested()
    early = StepTimeout(step="collect_fee:compensate", attempt=1)
    assert saga.apply_timeout(CRIMINAL, state, StepTimeout(step="collect_fee:compensate", attempt=2), ctx(T0)) == (
        state,
        [],
    )
    state, _ = saga.apply_reply(CRIMINAL, state, refund_reply(Outcome.FAILED, "HTTP 503"), ctx(T0))
    assert saga.apply_timeout(CRIMINAL, state, early, ctx(T0)) == (state, [])
    assert saga.apply_timeout(CRIMINAL, state, StepTimeout(step="nothing:compensate", attempt=1), ctx(T0)) == (
        state,
        [],
    )


# --- the circuit breaker ----------------------------------------------------------------------------


class Flaky:
    """A connector whose agency is down until ``up`` is set; counts the calls that reached it."""

    agency = "population"

    def __init__(self) -> None:
        self.calls = 0
        self.up = False

    async def call(self, action, params, idempotency_key):
        self.calls += 1
        if not self.up:
            raise AgencyUnavailable("ConnectError: connection refused")
        return {"personal_id": "093195000123", "vneid_level": 2}

    async def aclose(self) -> None:
        pass


COMMAND = StepCommand(
    step="check_vneid",
    action="check_vneid_level",
    agency="population",
    params={"personal_id": "093195000123", "minimum_level": 2},
    purpose="test",
)


async def test_an_open_circuit_fails_fast_without_calling_then_a_probe_closes_it():
    agency = Flaky()
    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=0.2, expected_exception=AgencyUnavailable)

    async def call() -> StepReply | None:
        return await perform(agency, COMMAND, "D/check_vneid", attempts=1, backoff_s=0, breaker=breaker)

    for _ in range(3):
        assert (await call()).outcome is Outcome.FAILED
    assert agency.calls == 3
    for _ in range(5):  # open: answered at once, the agency is not called
        fast = await call()
        assert fast.outcome is Outcome.FAILED and "circuit open" in fast.reason
    assert agency.calls == 3

    await asyncio.sleep(0.25)
    assert (await call()).outcome is Outcome.FAILED  # the probe fails: open again
    assert agency.calls == 4 and "circuit open" in (await call()).reason

    await asyncio.sleep(0.25)
    agency.up = True
    assert (await call()).outcome is Outcome.SUCCEEDED  # the probe succeeds: closed
    assert (await call()).outcome is Outcome.SUCCEEDED and agency.calls == 6


async def test_a_refusal_on_the_facts_counts_as_the_agency_being_up():
    class Refusing(Flaky):
        async def call(self, action, params, idempotency_key):
            self.calls += 1
            if self.calls % 2:
                raise AgencyUnavailable("HTTP 503")
            raise AgencyRejected("no such citizen")

    agency = Refusing()
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=60, expected_exception=AgencyUnavailable)
    for _ in range(6):
        await perform(agency, COMMAND, "D/check_vneid", attempts=1, backoff_s=0, breaker=breaker)
    assert agency.calls == 6  # never two failures in a row: never open
