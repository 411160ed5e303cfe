"""Dead-letter alerts: one per stage that grew in a window, naming the codes and the commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.dead_letter_alerts import DeadLetterWatch
from streams.metrics import HubMetrics

T0 = datetime(2026, 11, 26, 9, 0, 10, tzinfo=UTC)


def test_a_window_with_dead_letters_ends_in_one_alert_per_stage_and_a_quiet_one_in_none():
    metrics = HubMetrics()
    metrics.dead_letters.labels("ingest.tax", "signature").inc(3)  # before the watch began: not counted
    watch = DeadLetterWatch(metrics.dead_letters, 60, T0)
    metrics.dead_letters.labels("ingest.tax", "signature").inc(2)
    metrics.dead_letters.labels("ingest.tax", "rejected").inc()
    metrics.dead_letters.labels("orchestrate", "unprocessable").inc()
    assert watch.ended(T0 + timedelta(seconds=30)) == []  # the window still runs

    tax, orchestrate = watch.ended(T0 + timedelta(seconds=51))  # the timer runs a second after the window
    assert (tax.kind, tax.subject) == ("dead_letters", "ingest.tax")
    assert tax.message == (
        "3 messages dead-lettered at stage ingest.tax between 09:00:10 and 09:01:01 UTC (rejected ×1, signature ×2)"
    )
    assert tax.at == T0 + timedelta(seconds=51)  # after every dead letter it counts (the trust test relies on it)
    assert "lienthong dlq replay --stage ingest.tax" in tax.action and "forged" in tax.action
    assert orchestrate.subject == "orchestrate" and "forged" not in orchestrate.action
    assert watch.ended(T0 + timedelta(minutes=2)) == []  # nothing new in the next window
