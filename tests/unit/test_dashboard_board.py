"""The dashboard's board: counts follow the dossiers' status records, once each."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from contracts.events import Alert, Transition
from contracts.status import DossierStatus as S
from infra.dashboard import ALERTS_KEPT, OVERDUE_SHOWN, Board

AT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
CODE = "000.00.31.H26-261126-0001"


def status(code: str, value: S, procedure: str = "birth_bundle") -> Transition:
    return Transition(dossier_id=code, procedure=procedure, state=value.label, status=value, at=AT)


def test_dossiers_move_between_statuses_and_leave_the_in_flight_counts_when_final():
    board = Board()
    for value in (S.NEWLY_REGISTERED, S.ACCEPTED, S.PROCESSING):
        board.on_transition(status(CODE, value))
    board.on_transition(status("000.00.31.H26-261126-0002", S.NEWLY_REGISTERED))
    board.on_transition(
        Transition(
            dossier_id=CODE, procedure="birth_bundle", state="overdue", reason="due 2026-11-25; apology sent", at=AT
        )
    )
    summary = board.summary()
    assert [(r["status"], r["count"]) for r in summary["in_flight"]] == [(1, 1), (4, 1)]
    assert summary["overdue"] == [{"dossier": CODE, "procedure": "birth_bundle", "due": "2026-11-25"}]

    version = board.version
    board.on_transition(status(CODE, S.PROCESSING))  # written again after a restart: no change
    assert board.version == version
    board.on_transition(status(CODE, S.RESULT_RETURNED))
    summary = board.summary()
    assert [(r["status"], r["count"]) for r in summary["in_flight"]] == [(1, 1)]
    assert [(r["status"], r["count"]) for r in summary["finished"]] == [(10, 1)]
    assert summary["overdue"] == [] and summary["dossiers"] == 2


def test_dead_letters_are_counted_by_stage_and_reason_with_the_replay_command():
    board = Board()
    for _ in range(2):
        board.on_dead_letter({"stage": "ingest.justice", "code": "signature"})
    (letters,) = board.summary()["dead_letters"]
    assert letters == {
        "stage": "ingest.justice",
        "code": "signature",
        "count": 2,
        "replay": "lienthong dlq replay --stage ingest.justice",
    }


def test_the_summary_lists_only_the_oldest_overdue_dossiers_and_counts_them_all():
    board = Board()
    codes = [f"000.00.31.H26-261126-{i:04d}" for i in range(OVERDUE_SHOWN + 20)]
    for i, code in enumerate(reversed(codes)):  # the last code filed is the most overdue
        board.on_transition(status(code, S.PROCESSING))
        due = f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}"
        board.on_transition(
            Transition(dossier_id=code, procedure="birth_bundle", state="overdue", reason=f"due {due}", at=AT)
        )
    summary = board.summary()
    assert summary["overdue_count"] == len(codes)
    assert [r["dossier"] for r in summary["overdue"]] == codes[-1 : -OVERDUE_SHOWN - 1 : -1]
    assert summary["overdue"][0]["due"] == "2026-01-01"


def test_the_pages_get_the_summary_of_every_change_rendered_once_per_change():
    board = Board()
    board.on_transition(status(CODE, S.NEWLY_REGISTERED))
    first = board.summary_json()
    assert json.loads(first) == board.summary() and board.summary_json() is first  # shared by every page
    board.on_dead_letter({"stage": "ingest.justice", "code": "signature"})
    assert json.loads(board.summary_json())["dead_letters"][0]["count"] == 1
    board.on_transition(status(CODE, S.ACCEPTED))
    assert [r["status"] for r in json.loads(board.summary_json())["in_flight"]] == [2]


def alert(kind: str, subject: str, agency: str | None, minute: int) -> Alert:
    return Alert(
        kind=kind,
        subject=subject,
        agency=agency,
        message=f"{kind} {subject}",
        action="act",
        at=AT.replace(minute=minute),
    )


def test_an_agency_down_shows_its_failing_alert_and_its_stuck_steps_as_one_row_with_their_count():
    board = Board()
    board.on_alert(alert("dossier_overdue", CODE, None, 0))
    board.on_alert(alert("agency_failing", "justice", "justice", 1))
    codes = [f"000.00.31.H26-261126-{i:04d}" for i in range(2 * ALERTS_KEPT)]
    for i, code in enumerate(codes):  # one per step waiting on the down agency
        board.on_alert(alert("step_stuck", code, "justice", 2 + i % 50))
    board.on_alert(alert("step_stuck", CODE, "portal", 3))
    rows = board.summary()["alerts"]
    assert [(r["kind"], r["agency"], r["count"]) for r in rows] == [
        ("step_stuck", "justice", 2 * ALERTS_KEPT),
        ("step_stuck", "portal", 1),
        ("agency_failing", "justice", 1),
        ("dossier_overdue", None, 1),
    ]
    assert (
        rows[0]["message"]
        == f"{2 * ALERTS_KEPT} steps sent to justice got no reply in time; the latest: step_stuck {codes[-1]}"
    )
    assert rows[1]["message"] == f"step_stuck {CODE}"  # a single one is shown as it came
