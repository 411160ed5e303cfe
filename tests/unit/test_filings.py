from datetime import date

import pytest
from pydantic import ValidationError

from contracts.envelope import describe_error
from contracts.filings import FILING_MODELS, Address, LandTransferFiling

LAND = {
    "parcel_no": "12",
    "map_sheet_no": "3",
    "land_use_purpose": "đất ở tại đô thị",
    "certificate": {
        "serial_no": "CS 123456",
        "register_no": "CS01234",
        "issued_on": "15/03/2018",
        "issued_by": "Sở Tài nguyên và Môi trường tỉnh Hậu Giang",
    },
    "contract": {"number": "1234/2026/CCGD", "signed_on": "20/11/2026"},
    "area_m2": 120,
    "parcel_address": {"commune_code": "31327", "province_code": "93"},
    "declared_value_vnd": 900_000_000,
    "transferor": {"full_name": "Lê Văn Hùng", "personal_id": "093092000456", "address": {"commune_code": "31360"}},
    "transferee": {"full_name": "Trần Thị Lan", "personal_id": "093195000123", "address": {"commune_code": "31360"}},
    "complete_dossier_received_on": "26/11/2026",
}


def error(model, data) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return describe_error(info.value)


def test_pre_merger_units_become_current_ones_and_keep_the_filed_code():
    address = Address(commune_code="31327", province_code="93")
    assert (address.commune_code, address.commune_name, address.province_code, address.former_commune_code) == (
        "31333",
        "Phường Vị Tân",
        "92",
        "31327",
    )
    assert Address(commune_code="31360").province_code == "92"


def test_canonical_filings_accept_vietnamese_dates():
    filing = LandTransferFiling.model_validate(LAND)
    assert filing.complete_dossier_received_on == date(2026, 11, 26)
    assert filing.parcel_address.commune_code == "31333"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"parcel_address": {"commune_code": "31379"}}, "parcel_address: commune_code: commune 31379 (Xã Phú Tân"),
        ({"parcel_address": {"commune_code": "31360", "province_code": "01"}}, "does not lie in province 01"),
        ({"complete_dossier_received_on": "31/02/2026"}, "complete_dossier_received_on: '31/02/2026' is not a date"),
        ({"transferee": LAND["transferor"]}, "transferee.personal_id: the transferee cannot be the transferor"),
        ({"declared_value_vnd": 0}, "declared_value_vnd: Input should be greater than 0"),
    ],
)
def test_canonical_rejections_name_the_field_and_rule(change, expected):
    assert expected in error(LandTransferFiling, LAND | change)


def test_every_procedure_filing_kind_has_a_model():
    assert set(FILING_MODELS) == {"birth", "business", "death", "land_transfer", "criminal_record"}
