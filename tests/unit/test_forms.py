"""Filings as the official declaration forms: a filled-in example of each form (``tests/forms/``)
validates, and the same form with any one field wrong is refused naming that field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from contracts.envelope import describe_error
from contracts.filings import BirthFiling, BusinessFiling, CriminalRecordFiling, DeathFiling, LandTransferFiling

FORMS = Path(__file__).parents[1] / "forms"


def form(name: str) -> dict[str, Any]:
    """A filled-in form, without its ``_``-prefixed notes."""
    return {k: v for k, v in json.loads((FORMS / f"{name}.json").read_text("utf-8")).items() if not k.startswith("_")}


def with_field(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = changed
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value
    return changed


def refusal(model: type[BaseModel], data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return describe_error(info.value)


def test_the_filled_in_birth_form_validates_in_todays_units():
    filing = BirthFiling.model_validate(form("birth_registration"))
    assert filing.child.ethnicity == "01" and filing.child.nationality == "VN"
    assert filing.father is not None and filing.father.residence is not None
    assert (filing.father.residence.commune_code, filing.father.residence.former_commune_code) == ("31360", "31359")
    assert filing.marriage_certificate is not None and filing.copies_requested == 2


def test_the_filled_in_death_form_validates_with_the_residence_to_remove():
    filing = DeathFiling.model_validate(form("death_registration"))
    residence = filing.deceased.last_residence
    assert (residence.commune_code, residence.province_code, residence.former_commune_code) == ("31360", "92", "31359")
    assert filing.time_of_death is not None and filing.time_of_death.isoformat() == "04:30:00"


BIRTH_WRONG = [
    ("requester.full_name", "Tr4n Thị Lan", "requester.full_name: "),
    ("requester.personal_id", "1", "requester.personal_id: "),
    ("requester.relationship", "", "requester.relationship: "),
    ("requester.residence", {"commune_code": "99999"}, "requester.residence: commune_code: "),
    ("birth_notice_no", "", "birth_notice_no: "),
    ("child.full_name", "", "child.full_name: "),
    ("child.date_of_birth", "31/02/2026", "child.date_of_birth: "),
    ("child.sex", "Nam", "child.sex: "),
    ("child.place_of_birth", "\u200b", "child.place_of_birth: "),
    ("child.ethnicity", "55", "child.ethnicity: "),
    ("child.nationality", "Việt Nam", "child.nationality: "),
    ("child.hometown", "a\x00b", "child.hometown: "),
    ("mother.full_name", "- -", "mother.full_name: "),
    ("mother.personal_id", "093095000123", "mother.personal_id: "),
    ("mother.date_of_birth", "05/05/1996", "mother.personal_id: "),
    ("mother.ethnicity", "00", "mother.ethnicity: "),
    ("mother.nationality", "VNM", "mother.nationality: "),
    ("mother.residence", {"commune_code": "31360", "province_code": "01"}, "mother.residence: commune_code: "),
    ("father.full_name", "", "father.full_name: "),
    ("father.personal_id", "093192000456", "father.personal_id: "),
    ("father.date_of_birth", "1992-13-01", "father.date_of_birth: "),
    ("father.ethnicity", "Kinh", "father.ethnicity: "),
    ("father.nationality", "", "father.nationality: "),
    ("father.residence", {"commune_code": "31379", "province_code": "93"}, "father.residence: commune_code: "),
    ("marriage_certificate.number", "", "marriage_certificate.number: "),
    ("marriage_certificate.book", "x" * 41, "marriage_certificate.book: "),
    ("marriage_certificate.registered_on", "14/14/2020", "marriage_certificate.registered_on: "),
    ("marriage_certificate.registered_at", "", "marriage_certificate.registered_at: "),
    ("residence", {"commune_code": "3136"}, "residence: commune_code: "),
    ("copies_requested", -1, "copies_requested: "),
    ("signature", "x", "signature: "),
]


@pytest.mark.parametrize(("path", "value", "named"), BIRTH_WRONG, ids=[p for p, _, _ in BIRTH_WRONG])
def test_a_birth_form_with_one_field_wrong_is_refused_naming_it(path, value, named):
    assert refusal(BirthFiling, with_field(form("birth_registration"), path, value)).startswith(named)


DEATH_WRONG = [
    ("death_notice_no", "", "death_notice_no: "),
    ("death_notice_issuer", "\x07", "death_notice_issuer: "),
    ("deceased.full_name", "B4y", "deceased.full_name: "),
    ("deceased.personal_id", "093041120", "deceased.personal_id: "),
    ("deceased.date_of_birth", "02/03/1942", "deceased: personal_id: personal ID number has birth-year digits 41"),
    ("deceased.sex", "female", "deceased: personal_id: personal ID number has century/gender digit 0"),
    ("deceased.ethnicity", "99", "deceased.ethnicity: "),
    ("deceased.nationality", "ZZ", "deceased.nationality: "),
    ("deceased.last_residence", {"commune_code": "31379"}, "deceased.last_residence: commune_code: "),
    ("date_of_death", "01/01/2099", "date_of_death: "),
    ("time_of_death", "25:00", "time_of_death: "),
    ("place_of_death", "", "place_of_death: "),
    ("cause_of_death", "\x00", "cause_of_death: "),
    ("declarant.full_name", "", "declarant.full_name: "),
    ("declarant.personal_id", "093041120034", "declarant.personal_id: "),
    ("declarant.relationship", "", "declarant.relationship: "),
    ("declarant.residence", {"commune_code": "00000"}, "declarant.residence: commune_code: "),
    ("include_residence_removal", "maybe", "include_residence_removal: "),
    ("include_funeral_allowance", None, "include_funeral_allowance: "),
    ("copies_requested", 21, "copies_requested: "),
]


@pytest.mark.parametrize(("path", "value", "named"), DEATH_WRONG, ids=[p for p, _, _ in DEATH_WRONG])
def test_a_death_form_with_one_field_wrong_is_refused_naming_it(path, value, named):
    assert refusal(DeathFiling, with_field(form("death_registration"), path, value)).startswith(named)


def test_the_filled_in_criminal_record_application_validates():
    filing = CriminalRecordFiling.model_validate(form("criminal_record_application"))
    assert len(filing.residence_history) == 3 and filing.residence_history[-1].to_month is None


CRIMINAL_WRONG = [
    ("applicant.full_name", "L4n", "applicant.full_name: "),
    ("applicant.personal_id", "193195000123", "applicant.personal_id: "),
    ("applicant.sex", "male", "applicant: personal_id: personal ID number has century/gender digit 1"),
    ("applicant.date_of_birth", "05/05/1996", "applicant: personal_id: personal ID number has birth-year digits 95"),
    ("applicant.place_of_birth", "", "applicant.place_of_birth: "),
    ("applicant.nationality", "vn1", "applicant.nationality: "),
    ("applicant.permanent_residence", {"commune_code": "99999"}, "applicant.permanent_residence: commune_code: "),
    ("applicant.temporary_residence", {"street": "x"}, "applicant.temporary_residence.commune_code: "),
    ("father_name", "1", "father_name: "),
    ("mother_name", "", "mother_name: "),
    ("spouse_name", "\u200b", "spouse_name: "),
    ("residence_history", [], "residence_history: "),
    ("residence_history.0.from_month", "13/2009", "residence_history.0.from_month: "),
    ("residence_history.0.to_month", "04/2009", "residence_history.0: to_month: 04/2009 is before from_month 05/2009"),
    ("residence_history.0.address", "", "residence_history.0.address: "),
    ("residence_history.0.occupation", "\x00", "residence_history.0.occupation: "),
    ("residence_history.0.workplace", "\x00", "residence_history.0.workplace: "),
    ("residence_history.0.from_month", "05/2010", "residence_history: it must start by the applicant's 14th birthday"),
    ("certificate_type", 3, "certificate_type: "),
    ("purpose", "", "purpose: "),
    ("copies_requested", 0, "copies_requested: "),
]


@pytest.mark.parametrize(("path", "value", "named"), CRIMINAL_WRONG, ids=[p for p, _, _ in CRIMINAL_WRONG])
def test_a_criminal_record_application_with_one_field_wrong_is_refused_naming_it(path, value, named):
    refused = refusal(CriminalRecordFiling, with_field(form("criminal_record_application"), path, value))
    assert refused.startswith(named), refused


def test_the_filled_in_land_transfer_form_validates_in_todays_units():
    filing = LandTransferFiling.model_validate(form("land_transfer"))
    assert (filing.parcel_address.commune_code, filing.parcel_address.former_commune_code) == ("31333", "31327")


LAND_WRONG = [
    ("parcel_no", "", "parcel_no: "),
    ("map_sheet_no", "x" * 21, "map_sheet_no: "),
    ("area_m2", 0, "area_m2: "),
    ("parcel_address", {"commune_code": "31379"}, "parcel_address: commune_code: "),
    ("land_use_purpose", "", "land_use_purpose: "),
    ("land_use_term", "\x00", "land_use_term: "),
    ("land_origin", "\u200b", "land_origin: "),
    ("certificate.serial_no", "", "certificate.serial_no: "),
    ("certificate.register_no", "", "certificate.register_no: "),
    ("certificate.issued_on", "31/04/2018", "certificate.issued_on: "),
    ("certificate.issued_by", "", "certificate.issued_by: "),
    ("contract.number", "", "contract.number: "),
    ("contract.signed_on", "27/11/2026", "contract.signed_on: after the dossier was received"),
    ("contract.notarised_by", "\x00", "contract.notarised_by: "),
    ("declared_value_vnd", -1, "declared_value_vnd: "),
    ("transferor.full_name", "", "transferor.full_name: "),
    ("transferor.personal_id", "093092", "transferor.personal_id: "),
    ("transferor.address", {"commune_code": "0"}, "transferor.address: commune_code: "),
    ("transferee.personal_id", "093092000456", "transferee.personal_id: the transferee cannot be the transferor"),
    ("transferee.address", None, "transferee.address: "),
    ("new_certificate_wanted", "có", "new_certificate_wanted: "),
    ("complete_dossier_received_on", "26-11-2026", "complete_dossier_received_on: "),
]


@pytest.mark.parametrize(("path", "value", "named"), LAND_WRONG, ids=[p for p, _, _ in LAND_WRONG])
def test_a_land_transfer_form_with_one_field_wrong_is_refused_naming_it(path, value, named):
    refused = refusal(LandTransferFiling, with_field(form("land_transfer"), path, value))
    assert refused.startswith(named), refused


def test_the_filled_in_business_registration_validates_in_todays_units():
    filing = BusinessFiling.model_validate(form("business_registration"))
    assert filing.head_office.commune_code == "31360" and filing.main_business_line.code == "0118"


BUSINESS_WRONG = [
    ("enterprise_name", "Cô", "enterprise_name: "),
    ("enterprise_name_foreign", "x" * 201, "enterprise_name_foreign: "),
    ("enterprise_name_short", "\x00", "enterprise_name_short: "),
    ("enterprise_type", "LLC", "enterprise_type: "),
    ("head_office", {"commune_code": "31379"}, "head_office: commune_code: "),
    ("head_office_phone", "12345", "head_office_phone: "),
    ("head_office_email", "lienhe@", "head_office_email: "),
    ("main_business_line.code", "118", "main_business_line.code: "),
    ("main_business_line.name", "\u200b", "main_business_line.name: "),
    ("other_business_lines.0.code", "0118", "other_business_lines: a line is listed twice"),
    ("other_business_lines.1.code", "A030", "other_business_lines.1.code: "),
    ("legal_representative.full_name", "", "legal_representative.full_name: "),
    ("legal_representative.personal_id", "0931950001234", "legal_representative.personal_id: "),
    ("legal_representative.date_of_birth", "05/05/1994", "legal_representative: personal_id: "),
    ("legal_representative.sex", "male", "legal_representative: personal_id: "),
    ("legal_representative.title", "", "legal_representative.title: "),
    ("legal_representative.contact_address", {}, "legal_representative.contact_address.commune_code: "),
    ("legal_representative.phone", "+8491234", "legal_representative.phone: "),
    ("legal_representative.email", "lan tran@x.vn", "legal_representative.email: "),
    ("charter_capital_vnd", 0, "charter_capital_vnd: "),
    ("employees", -3, "employees: "),
    ("vat_method", "khấu trừ", "vat_method: "),
    ("fiscal_year_start", "31/02x", "fiscal_year_start: "),
    ("social_insurance_cycle", "yearly", "social_insurance_cycle: "),
    ("beneficial_owner_declared", "unknown", "beneficial_owner_declared: "),
]


@pytest.mark.parametrize(("path", "value", "named"), BUSINESS_WRONG, ids=[p for p, _, _ in BUSINESS_WRONG])
def test_a_business_registration_with_one_field_wrong_is_refused_naming_it(path, value, named):
    refused = refusal(BusinessFiling, with_field(form("business_registration"), path, value))
    assert refused.startswith(named), refused


def test_every_procedure_s_filing_kind_has_a_filled_in_form():
    from contracts.filings import FILING_MODELS

    examples = {"birth": "birth_registration", "death": "death_registration", "business": "business_registration"}
    examples |= {"criminal_record": "criminal_record_application", "land_transfer": "land_transfer"}
    assert set(examples) == set(FILING_MODELS)
    for kind, name in examples.items():
        FILING_MODELS[kind].model_validate(form(name))


def test_an_authorised_request_is_mau_04_for_a_phieu_so_1_only():
    filing = CriminalRecordFiling.model_validate(form("criminal_record_authorised"))
    assert filing.requester is not None and filing.requester.relationship == "chị gái"
    authorised = form("criminal_record_authorised")
    assert refusal(CriminalRecordFiling, authorised | {"certificate_type": 2}).startswith(
        "certificate_type: a Phiếu số 2 cannot be asked for through an authorised person"
    )
    unauthorised = with_field(authorised, "requester.authorisation", None)
    assert refusal(CriminalRecordFiling, unauthorised).startswith("requester.authorisation: needed unless")
    myself = with_field(authorised, "requester.personal_id", "093195000123")
    assert refusal(CriminalRecordFiling, myself).startswith("requester: leave it out")


def test_a_parent_asks_for_a_minor_without_an_authorisation():
    minor = {
        "full_name": "Lê Minh Khang",
        "personal_id": "093212551234",
        "sex": "male",
        "date_of_birth": "01/09/2012",
        "place_of_birth": "Bệnh viện Đa khoa tỉnh Hậu Giang",
        "nationality": "VN",
        "permanent_residence": {"commune_code": "31360"},
    }
    parent = {"full_name": "Trần Thị Lan", "personal_id": "093195000123", "relationship": "mẹ"}
    filing = form("criminal_record_authorised") | {"applicant": minor, "requester": parent, "certificate_type": 2}
    filing["residence_history"] = [{"from_month": "09/2012", "address": "Ấp Láng Hầm, xã Thạnh Xuân"}]
    assert CriminalRecordFiling.model_validate(filing).requester is not None
