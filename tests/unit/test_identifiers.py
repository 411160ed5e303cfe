from datetime import date

import pytest
from pydantic import BaseModel, ValidationError

from contracts.envelope import describe_error
from contracts.identifiers import (
    BhytCardNumber,
    DossierCode,
    IdentifierError,
    PersonalIdNumber,
    Sex,
    check_bhyt_card,
    check_dossier_code,
    check_personal_id,
    check_personal_id_matches,
    check_tax_code,
    make_personal_id,
)
from contracts.text import normalize_text, same_name


class Holder(BaseModel):
    personal_id: PersonalIdNumber
    card: BhytCardNumber | None = None
    dossier: DossierCode | None = None


def error_of(**fields) -> str:
    with pytest.raises(ValidationError) as info:
        Holder(**{"personal_id": "093195000123", **fields})
    return describe_error(info.value)


def test_valid_personal_id_is_accepted():
    assert Holder(personal_id=" 093195000123 ").personal_id == "093195000123"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("09319500012", "must be 12 digits"),
        ("0931950001234", "must be 12 digits"),
        ("09319500012A", "must be 12 digits"),
        ("", "must be 12 digits"),
        ("099195000123", "starts with 099, which is not a known province-of-birth-registration code"),
        ("193195000123", "starts with 193, which is not a known"),
    ],
)
def test_personal_id_rules_name_the_field_and_rule(value, rule):
    message = error_of(personal_id=value)
    assert message.startswith("personal_id: ")
    assert rule in message


@pytest.mark.parametrize(
    ("pid", "born", "sex"),
    [
        ("001085000001", date(1985, 3, 1), Sex.MALE),
        ("001185000001", date(1985, 3, 1), Sex.FEMALE),
        ("092224000001", date(2024, 3, 1), Sex.MALE),
        ("092324000001", date(2024, 3, 1), Sex.FEMALE),
    ],
)
def test_century_gender_digit_consistent(pid, born, sex):
    check_personal_id_matches(pid, born, sex)


def test_century_gender_digit_inconsistent_with_sex():
    with pytest.raises(IdentifierError, match="century/gender digit 0, but a female born in 1985 must have 1"):
        check_personal_id_matches("001085000001", date(1985, 3, 1), Sex.FEMALE)


def test_century_gender_digit_inconsistent_with_century():
    with pytest.raises(IdentifierError, match="must have 2"):
        check_personal_id_matches("001024000001", date(2024, 3, 1), Sex.MALE)


def test_birth_year_digits_must_match():
    with pytest.raises(IdentifierError, match="birth-year digits 85, but the holder was born in 1986"):
        check_personal_id_matches("001085000001", date(1986, 3, 1), Sex.MALE)


def test_make_personal_id_round_trips():
    pid = make_personal_id("93", date(2026, 11, 20), Sex.FEMALE, 42)
    assert pid == "093326000042"
    check_personal_id_matches(pid, date(2026, 11, 20), Sex.FEMALE)


def test_bhyt_card_shape():
    assert Holder(personal_id="093195000123", card="TE1920931950001").card == "TE1920931950001"  # before 2021
    assert Holder(personal_id="093195000123", card="9231950001").card == "9231950001"  # since April 2021
    for bad in ("te1920931950001", "TE6920931950001", "TE192093195000", "T11920931950001", "923195000", "TE9231950001"):
        assert "health-insurance card number must be the 10-digit social-insurance code" in error_of(card=bad)


def test_dossier_code_shape_and_date():
    assert Holder(personal_id="093195000123", dossier="000.00.01.H26-260930-0012").dossier
    assert "dossier code must look like" in error_of(dossier="H26-260930-12")
    assert "impossible date" in error_of(dossier="000.00.01.H26-261340-0012")


def test_text_is_nfc_and_names_compare_like_an_officer():
    decomposed = "Nguye\u0302\u0303n  Thi\u0323 Ba\u0301"  # NFD, double space
    assert normalize_text(decomposed) == "Nguyễn Thị Bá"
    assert same_name(decomposed, "nguyễn thị bá")
    assert not same_name("Nguyễn Thị Bá", "Nguyễn Thị Ba")


def test_tax_code_check_digit_and_forms():
    from contracts.identifiers import check_tax_code, tax_check_digit

    assert tax_check_digit("010010007") == 9
    assert check_tax_code("0100100079") == "0100100079"
    assert check_tax_code("0100100079-001") == "0100100079-001"
    assert check_tax_code("0100100079001") == "0100100079-001"
    with pytest.raises(IdentifierError, match="wrong check digit"):
        check_tax_code("0100100078")
    with pytest.raises(IdentifierError, match="must be 10 digits, or 13"):
        check_tax_code("01001000")
    with pytest.raises(IdentifierError, match="branch suffix must be 001-999"):
        check_tax_code("0100100079-000")


def test_bhxh_code_is_ten_digits():
    from contracts.identifiers import check_bhxh_code

    assert check_bhxh_code("9312345678") == "9312345678"
    for bad in ("931234567", "93123456789", "93123456A8"):
        with pytest.raises(IdentifierError, match="social-insurance code must be 10 digits"):
            check_bhxh_code(bad)


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (check_personal_id, "093195000123\n"),
        (check_personal_id, "093١٩٥٠٠٠١٢٣"),
        (check_personal_id, "０９３１９５０００１２３"),
        (check_bhyt_card, "TE1923101234567８"),
        (check_bhyt_card, "TE19231012345678\n"),
        (check_dossier_code, "000.00.31.H26-261120-0001\n"),
        (check_dossier_code, "000.00.31.H26-２61120-0001"),
        (check_tax_code, "0100109106\n"),
    ],
)
def test_identifiers_are_ascii_digits_with_nothing_after_them(check, value):
    with pytest.raises(IdentifierError):
        check(value)
