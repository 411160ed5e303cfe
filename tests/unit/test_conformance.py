"""The conformance suite's cases file: read with field-named errors, references resolved in order."""

from __future__ import annotations

import pytest

from contracts.errors import SettingsError
from infra.conformance import Case, Report, Row, _order, _resolve, load_cases


def test_a_cases_file_is_read_by_action(tmp_path):
    path = tmp_path / "cases.toml"
    path.write_text(
        '[actions.confirm_obligations]\naccepted = { notice_no = "$compute_land_obligations.notice_no" }\n'
        'refused = { notice_no = "TB-0" }\n[actions.compute_land_obligations]\naccepted = { area_m2 = 1.5 }\n'
    )
    cases = load_cases(path)
    assert cases["confirm_obligations"].refused == {"notice_no": "TB-0"}
    assert _order(cases, cases) == ["compute_land_obligations", "confirm_obligations"]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[actions.verify_citizen]\nrefused = {}\n", "actions.verify_citizen: needs an `accepted` table"),
        ("[actions.verify_citizen]\naccepted = {}\nexpected = {}\n", "unknown key(s) expected"),
        ("[actions.verify_citizen\n", "cases.toml"),
    ],
)
def test_a_broken_cases_file_is_refused_naming_the_problem(tmp_path, text, named):
    path = tmp_path / "cases.toml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=named.replace("(", r"\(").replace(")", r"\)")):
        load_cases(path)


def test_references_take_fields_of_earlier_results():
    results = {"compute": {"notice_no": "TB-1", "fees": {"total": 5}}}
    params = {"notice_no": "$compute.notice_no", "amount": "$compute.fees.total", "nested": {"n": "$compute.notice_no"}}
    assert _resolve(params, results) == {"notice_no": "TB-1", "amount": 5, "nested": {"n": "TB-1"}}
    with pytest.raises(LookupError, match=r"\$other.notice_no: other gave no such result"):
        _resolve({"x": "$other.notice_no"}, results)
    assert Case({"x": "$compute.notice_no"}, {"y": "$verify.z"}).needs() == {"compute", "verify"}


def test_the_report_conforms_only_without_a_failed_row():
    report = Report("tax", "kafka", [Row("answers", "a", True), Row("refuses", "a", None, "no case")])
    assert report.passed and report.lines()[-1] == "tax: 1 passed, 0 failed, 1 skipped — conforms"
    report.add(Row("ignores", "", False, "it answered"))
    assert not report.passed and report.lines()[-1].endswith("does not conform")
    assert report.lines()[-2].split() == ["ignores", "-", "FAIL", "it", "answered"]


def test_the_command_refuses_bad_arguments_before_reaching_anything(capsys, monkeypatch):
    from infra.cli import parser

    def run(*argv: str) -> int:
        args = parser().parse_args(["conformance", *argv])  # main() would set up logging
        return args.func(args)

    assert run("--agency", "nobody") == 2
    assert run("--agency", "tax", "--timeout", "0") == 2
    monkeypatch.setenv("LIENTHONG_STEP_TIMEOUT_S", "soon")
    assert run("--agency", "tax") == 2
    errors = capsys.readouterr().err
    assert "--agency: no agency 'nobody' in the registry" in errors
    assert "--timeout must be above 0" in errors and "LIENTHONG_STEP_TIMEOUT_S: not a number of seconds" in errors
