import tomllib
from pathlib import Path

import pytest

from contracts.catalog import CatalogError, builtin_catalog, load_catalog, load_procedure

SHIPPED = Path(__file__).resolve().parents[2] / "contracts" / "procedures" / "birth_bundle.toml"


def test_shipped_catalog_loads():
    proc = builtin_catalog()["birth_bundle"]
    assert proc.intake_steps == ["verify_mother", "verify_father"]
    assert proc.step("issue_health_card").agency == "insurance"


def write(tmp_path: Path, text: str, name: str = "birth_bundle.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edited(old: str, new: str) -> str:
    text = SHIPPED.read_text("utf-8")
    assert old in text, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'action = "issue_health_card"',
            'action = "issue_card"',
            "birth_bundle.toml: step 'issue_health_card': unknown action 'issue_card'",
        ),
        (
            'agency = "insurance"',
            'agency = "tax"',
            "step 'issue_health_card': action 'issue_health_card' is performed by 'insurance', not 'tax'",
        ),
        (
            'province_code = "filing.residence.province_code"\nbirth_certificate_no',
            "birth_certificate_no",
            "step 'assign_personal_id': 'assign_personal_id' needs input province_code",
        ),
        (
            'sex = "filing.child.sex"\nprovince_code',
            'sex = "filing.child.sex"\nshoe_size = "filing.child.sex"\nprovince_code',
            "step 'assign_personal_id': 'assign_personal_id' takes no input shoe_size",
        ),
        (
            'full_name = "filing.child.full_name"\ndate_of_birth',
            'full_name = "filing.child.nickname"\ndate_of_birth',
            "step 'assign_personal_id': 'filing.child.nickname' has no field 'nickname'",
        ),
        (
            'depends_on = ["assign_personal_id"]',
            'depends_on = ["register_birth"]',
            "step 'issue_health_card': 'steps.assign_personal_id.personal_id' reads step 'assign_personal_id', "
            "which this step does not depend on",
        ),
        (
            'depends_on = ["register_birth"]',
            'depends_on = ["register_brith"]',
            "step 'assign_personal_id': depends on unknown step register_brith",
        ),
        (
            'depends_on = ["verify_mother", "verify_father"]',
            'depends_on = ["verify_mother", "return_result"]',
            "step 'register_birth': depends on itself through a cycle",
        ),
        (
            'on_failure = "reject"',
            'on_failure = "ignore"',
            "birth_bundle.toml: steps.0.on_failure: Input should be 'reject', 'stop' or 'continue'",
        ),
        (
            'action = "register_birth"\nmanual_reversal = true',
            'action = "register_birth"\nmanual_reversal = false',
            "step 'register_birth': 'register_birth' creates a record at justice: declare the compensation that "
            "undoes it, or manual_reversal = true",
        ),
        ('id = "verify_father"', 'id = "verify_mother"', "step id verify_mother is used more than once"),
        ('filing = "birth"', 'filing = "marriage"', "unknown filing kind 'marriage'"),
        (
            "deadline_working_days = 3",
            "deadline_working_days = 0",
            "deadline_working_days: Input should be greater than 0",
        ),
    ],
)
def test_invalid_procedures_are_rejected_with_file_step_and_problem(tmp_path, old, new, message):
    with pytest.raises(CatalogError) as info:
        load_procedure(write(tmp_path, edited(old, new)))
    assert message in str(info.value)


def test_not_toml_is_rejected_with_the_file_name(tmp_path):
    with pytest.raises(CatalogError, match=r"broken.toml: not valid TOML"):
        write(tmp_path, "id = ", "broken.toml")
        load_catalog(tmp_path)


def test_procedure_id_must_match_file_name(tmp_path):
    with pytest.raises(CatalogError, match="procedure id 'birth_bundle' must match the file name 'other'"):
        load_procedure(write(tmp_path, SHIPPED.read_text("utf-8"), "other.toml"))


def test_every_step_names_a_purpose():
    data = tomllib.loads(SHIPPED.read_text("utf-8"))
    assert all(step["purpose"] for step in data["steps"])


LAND = Path(__file__).resolve().parents[2] / "contracts" / "procedures" / "land_transfer.toml"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'action = "refund_payment"',
            'action = "refund_everything"',
            "land_transfer.toml: step 'collect_obligations': compensation: unknown action 'refund_everything'",
        ),
        (
            'inputs = { transaction_id = "steps.collect_obligations.transaction_id", ',
            'inputs = { transaction_id = "steps.confirm_obligations.notice_no", ',
            "step 'collect_obligations': compensation: 'steps.confirm_obligations.notice_no' reads step "
            "'confirm_obligations', which this step does not depend on",
        ),
        (
            'payment = { amount_input = "amount_vnd" }',
            'payment = { amount_input = "amount" }',
            "step 'collect_obligations': payment: amount_input 'amount' is not one of the step's inputs "
            "(amount_vnd, description)",
        ),
        (
            'payment = { amount_input = "amount_vnd" }',
            'manual_reversal = true\npayment = { amount_input = "amount_vnd" }',
            "step 'collect_obligations': a step is undone by its compensation or by hand, not both",
        ),
    ],
)
def test_compensations_and_payments_are_checked_like_steps(tmp_path, old, new, message):
    text = LAND.read_text("utf-8")
    assert old in text
    with pytest.raises(CatalogError) as info:
        load_procedure(write(tmp_path, text.replace(old, new, 1), "land_transfer.toml"))
    assert message in str(info.value)
