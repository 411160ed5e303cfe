"""The bench's hop latencies, timed from the records' timestamps and causation ids."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.events import DOSSIER_STATUS, STEP_COMMAND, STEP_REPLY
from infra.harness.bench_hops import Stamped, hops, p99_hub_hop, percentile, report


def envelope(type_: str, cause: Envelope | None = None) -> Envelope:
    return Envelope(
        source="/test",
        type=type_,
        subject="000.00.31.H26-261127-0001",
        correlationid="c-1",
        causationid=cause.id if cause else "the-canonical-filing",
        data={},
    )


def test_each_hop_is_timed_from_the_record_that_caused_it():
    first = envelope(STEP_COMMAND)
    reply = envelope(STEP_REPLY, first)
    second, status = envelope(STEP_COMMAND, reply), envelope(DOSSIER_STATUS, reply)
    records = [
        Stamped("inbox", 1_113, status),
        Stamped("outbox", 1_000, None),  # justice's native filing
        Stamped("inbox", 1_030, first),
        Stamped("outbox", 1_100, reply),
        Stamped("inbox", 1_112, second),
    ]
    assert hops(records) == {
        "filing → first command": [30],
        "command → reply": [70],
        "reply → next record": [12],  # the first record the reply caused, not each
    }


def test_the_report_and_the_bench_line_use_the_hubs_hops_only():
    measured = {
        "filing → first command": [5.0] * 99 + [40.0],
        "reply → next record": [8.0, 9.0],
        "command → reply": [900.0],
    }
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 3.0
    assert p99_hub_hop(measured) == 40.0  # the agencies' 900 ms is theirs
    assert report(measured).startswith("hops p50 / p99: filing → first command 5 / 40 ms (100 timed)")
