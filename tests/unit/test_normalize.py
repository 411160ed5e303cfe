import unicodedata

import pytest

from streams.normalize import FilingRejected, justice_birth

FILING = {
    "loai_ho_so": "khai_sinh",
    "ma_ho_so": "000.00.31.H26-261120-0001",
    "ngay_tiep_nhan": "20/11/2026 15:30",
    "kenh_nop": 2,
    "ho_ten_nguoi_yeu_cau": "Trần Thị Lan",
    "so_dinh_danh_nguoi_yeu_cau": "093195000123",
    "quan_he_nguoi_yeu_cau": "mẹ",
    "so_giay_chung_sinh": "GCS-000001",
    "ho_ten_tre": "Lê Minh Khang",
    "ngay_sinh_tre": "15/11/2026",
    "gioi_tinh_tre": "Nam",
    "noi_sinh": "Bệnh viện Đa khoa tỉnh Hậu Giang",
    "dan_toc_tre": "01",
    "quoc_tich_tre": "VN",
    "ho_ten_me": "Trần Thị Lan",
    "so_dinh_danh_me": "093195000123",
    "ngay_sinh_me": "05/05/1995",
    "dan_toc_me": "01",
    "quoc_tich_me": "VN",
    "ho_ten_cha": "Lê Văn Hùng",
    "so_dinh_danh_cha": "093092000456",
    "dan_toc_cha": "01",
    "quoc_tich_cha": "VN",
    "ma_tinh": "92",
    "ma_xa": "31360",
}


def test_native_filing_becomes_canonical_dossier_event():
    event = justice_birth(FILING)
    assert event.dossier_id == "000.00.31.H26-261120-0001"
    assert event.procedure == "birth_bundle"
    assert event.received_at.isoformat() == "2026-11-20T15:30:00+07:00"
    child = event.filing["child"]
    assert child == {
        "full_name": "Lê Minh Khang",
        "date_of_birth": "2026-11-15",
        "sex": "male",
        "place_of_birth": "Bệnh viện Đa khoa tỉnh Hậu Giang",
        "ethnicity": "01",
        "nationality": "VN",
        "hometown": None,
    }
    assert event.filing["mother"] == {
        "full_name": "Trần Thị Lan",
        "personal_id": "093195000123",
        "date_of_birth": "1995-05-05",
        "ethnicity": "01",
        "nationality": "VN",
        "residence": None,
    }
    assert event.filing["requester"] == {
        "full_name": "Trần Thị Lan",
        "personal_id": "093195000123",
        "relationship": "mẹ",
        "residence": None,
    }
    assert event.filing["residence"]["commune_code"] == "31360"
    assert event.filing["residence"]["former_commune_code"] is None


def test_decomposed_vietnamese_is_stored_as_nfc():
    nfd = {
        k: unicodedata.normalize("NFD", v) if isinstance(v, str) and k.startswith("ho_ten") else v
        for k, v in FILING.items()
    }
    nfd["gioi_tinh_tre"] = unicodedata.normalize("NFD", "Nữ")
    event = justice_birth(nfd)
    assert event.filing["mother"]["full_name"] == "Trần Thị Lan"
    assert unicodedata.is_normalized("NFC", event.filing["child"]["full_name"])
    assert event.filing["child"]["sex"] == "female"


def test_pre_merger_unit_maps_to_current_and_keeps_the_filed_code():
    event = justice_birth(FILING | {"ma_tinh": "93", "ma_xa": "31359"})
    residence = event.filing["residence"]
    assert (residence["commune_code"], residence["province_code"], residence["former_commune_code"]) == (
        "31360",
        "92",
        "31359",
    )
    assert residence["commune_name"] == "Xã Thạnh Xuân"


def test_iso_dates_are_accepted_too():
    event = justice_birth(FILING | {"ngay_sinh_tre": "2026-11-15", "ngay_tiep_nhan": "2026-11-20T08:00:00"})
    assert event.filing["child"]["date_of_birth"] == "2026-11-15"
    assert event.received_at.utcoffset().total_seconds() == 7 * 3600


def test_mother_only_is_a_valid_filing():
    filing = {k: v for k, v in FILING.items() if not k.endswith("_cha")}
    assert justice_birth(filing).filing["father"] is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"so_dinh_danh_me": "09319500012"}, "so_dinh_danh_me: personal ID number must be 12 digits"),
        ({"so_dinh_danh_me": "093095000123"}, "so_dinh_danh_me: century/gender digit 0 denotes a male"),
        ({"so_dinh_danh_cha": "093195000999"}, "so_dinh_danh_cha: century/gender digit 1 denotes a female"),
        ({"ngay_sinh_me": "05/05/1996"}, "so_dinh_danh_me: personal ID number has birth-year digits 95"),
        ({"ngay_sinh_tre": "2026-13-01"}, "ngay_sinh_tre: '2026-13-01' is not a date"),
        ({"ngay_sinh_tre": "01/01/2099"}, "ngay_sinh_tre: the date of birth is in the future"),
        ({"gioi_tinh_tre": "X"}, "gioi_tinh_tre: 'X' is not a sex"),
        (
            {"ma_xa": "31379"},
            "ma_xa: commune 31379 (Xã Phú Tân, Huyện Châu Thành, Tỉnh Hậu Giang) was split on 2025-07-01 among "
            "Xã Phú Hữu (31378), Xã Thuận Hòa (31582): give today's commune code of the address",
        ),
        ({"ma_xa": "99999"}, "ma_xa: commune code '99999' is not a commune code, today's or pre-merger"),
        ({"ma_tinh": "01"}, "ma_xa: commune 31360 (Xã Thạnh Xuân) does not lie in province 01"),
        ({"ma_tinh": "00"}, "ma_tinh: province code '00' is not a province code, today's or pre-merger"),
        ({"ma_ho_so": "HS-1"}, "ma_ho_so: dossier code must look like"),
        ({"ho_ten_me": "Tr4n"}, "ho_ten_me: Value error, a personal name must not contain digits"),
        ({"kenh_nop": 9}, "kenh_nop: 9 is not a channel"),
        ({"loai_ho_so": "khai_tu"}, "loai_ho_so: Input should be 'khai_sinh'"),
        ({"ho_ten_cha": None}, "ho_ten_cha: required when the father is named"),
        ({"dan_toc_cha": None}, "dan_toc_cha: required when the father is named"),
        ({"dan_toc_tre": "55"}, "dan_toc_tre: ethnicity must be one of the 54 official codes"),
        ({"quoc_tich_me": "Việt Nam"}, "quoc_tich_me: nationality must be an ISO 3166-1 alpha-2 country code"),
        ({"so_dinh_danh_nguoi_yeu_cau": "1"}, "so_dinh_danh_nguoi_yeu_cau: personal ID number must be 12 digits"),
        ({"truong_la": "x"}, "truong_la: Extra inputs are not permitted"),
    ],
)
def test_rejections_name_the_filer_field_and_rule(change, expected):
    with pytest.raises(FilingRejected) as info:
        justice_birth(FILING | change)
    assert expected.replace("Value error, ", "") in str(info.value)


def test_the_readme_example_is_a_valid_filing():
    import json
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    start = readme.index('"loai_ho_so": "khai_sinh"')
    example = readme[readme.rfind("```json", 0, start) + len("```json") : readme.index("```", start)]
    assert justice_birth(json.loads(example)).filing["residence"]["former_commune_code"] == "31359"
