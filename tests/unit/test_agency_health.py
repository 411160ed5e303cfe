"""An agency's health per window, from its exchanges (streams/agency_health.py's pure part)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.events import Exchange
from streams.agency_health import add, failing_alert, health, window_start

T = datetime(2026, 11, 26, 9, 0, 0, tzinfo=UTC)


def exchange(outcome: str, at: datetime, ms: int = 80) -> Exchange:
    return Exchange(
        dossier_id="000.00.31.H26-261126-0001",
        procedure="birth_bundle",
        step="verify_mother",
        agency="population",
        action="verify_citizen",
        attempt=1,
        sent_at=at - timedelta(milliseconds=ms),
        answered_at=at,
        duration_ms=ms,
        outcome=outcome,
        request_bytes=60,
        response_bytes=0,
    )


def test_a_window_counts_outcomes_and_durations_and_closes_when_the_next_begins():
    window = None
    for outcome, ms in [("succeeded", 40), ("succeeded", 90), ("rejected", 30), ("failed", 2_000)]:
        window, closed = add(window, exchange(outcome, T + timedelta(seconds=10), ms), 60)
        assert closed is None
    report = health("population", window, 60)
    assert (report.calls, report.succeeded, report.refused, report.failed, report.no_reply) == (4, 2, 1, 1, 0)
    assert (report.p50_ms, report.p95_ms) == (50, 2_500)  # upper bounds of the histogram's buckets
    assert (report.window_start, report.window_end) == (T, T + timedelta(seconds=60))
    assert not report.failing  # 1 in 4

    window, closed = add(window, exchange("succeeded", T + timedelta(seconds=61)), 60)
    assert closed is not None and closed["start"] == T.isoformat()
    assert health("population", window, 60).calls == 1
    late = add(window, exchange("failed", T + timedelta(seconds=59)), 60)
    assert late == (window, None)  # an exchange of a window already closed is not counted again


def test_an_agency_failing_half_its_exchanges_raises_an_alert_that_says_what_to_do():
    window = None
    for outcome in ("failed", "no_reply", "succeeded"):
        window, _ = add(window, exchange(outcome, T), 60)
    report = health("population", window, 60)
    assert report.failing
    alert = failing_alert(report)
    assert (alert.kind, alert.subject, alert.at) == ("agency_failing", "population", T + timedelta(seconds=60))
    assert alert.message == "population: 2 of 3 exchanges failed or got no reply between 09:00:00 and 09:01:00 UTC"
    assert "resume by themselves" in alert.action


def test_a_down_agency_stays_failing_while_its_sparse_retries_fail_and_recovers_with_a_success():
    window = None
    for outcome in ("failed", "failed", "failed"):
        window, _ = add(window, exchange(outcome, T), 60)
    assert health("population", window, 60).failing
    window, _ = add(window, exchange("failed", T + timedelta(minutes=3)), 60)  # one retry, minutes later
    assert health("population", window, 60).failing  # too few calls to judge alone: still failing
    window, _ = add(window, exchange("succeeded", T + timedelta(minutes=9)), 60)
    assert not health("population", window, 60).failing  # back
    window, _ = add(window, exchange("failed", T + timedelta(minutes=12)), 60)
    assert not health("population", window, 60).failing  # one failure after a good window: not failing


def test_windows_are_aligned_on_the_epoch():
    assert window_start(T + timedelta(seconds=59, microseconds=999), 60) == T
    assert window_start(T + timedelta(seconds=7), 5) == T + timedelta(seconds=5)
