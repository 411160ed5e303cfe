"""Sample birth filings in the civil-status system's native format, drawn from the registry."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from contracts.identifiers import Sex, make_personal_id
from infra.sandbox.citizens import Citizen, random_name
from infra.sandbox.population import PopulationRegistry

AGENCY_EID = "000.00.31.H26"  # the commune one-stop shop's e-ID in the sample dossier codes


def dossier_code(seq: int, on: date | None = None) -> str:
    return f"{AGENCY_EID}-{(on or date.today()):%y%m%d}-{seq:04d}"


def _pick(registry: PopulationRegistry, rng: random.Random, sex: Sex) -> Citizen:
    adults = sorted(
        (c for c in registry.citizens.values() if c.sex is sex and c.commune_code), key=lambda c: c.personal_id
    )
    return rng.choice(adults)


def unknown_mother_id(registry: PopulationRegistry, rng: random.Random) -> str:
    """A well-formed female personal ID number that the registry does not hold."""
    while True:
        pid = make_personal_id("93", date(1995, 5, 5), Sex.FEMALE, rng.randrange(1_000_000))
        if pid not in registry.citizens:
            return pid


def birth_filing(
    registry: PopulationRegistry,
    rng: random.Random,
    seq: int,
    *,
    pre_merger_units: bool = False,
    with_father: bool = True,
    mother_id: str | None = None,
) -> dict[str, Any]:
    """A khai sinh filing; with ``pre_merger_units`` the address uses Hậu Giang's old codes."""
    mother = _pick(registry, rng, Sex.FEMALE)
    father = _pick(registry, rng, Sex.MALE) if with_father else None
    sex = rng.choice([Sex.MALE, Sex.FEMALE])
    family = (father or mother).full_name.split()[0]
    filing: dict[str, Any] = {
        "loai_ho_so": "khai_sinh",
        "ma_ho_so": dossier_code(seq),
        "ngay_tiep_nhan": f"{datetime.now():%d/%m/%Y %H:%M}",
        "kenh_nop": 2,
        "ho_ten_nguoi_yeu_cau": mother.full_name,  # the mother files for her child
        "so_dinh_danh_nguoi_yeu_cau": mother_id or mother.personal_id,
        "quan_he_nguoi_yeu_cau": "mẹ",
        "so_giay_chung_sinh": f"GCS-{seq:06d}",
        "ho_ten_tre": random_name(rng, sex, family),
        "ngay_sinh_tre": f"{date.today() - timedelta(days=rng.randrange(1, 20)):%d/%m/%Y}",
        "gioi_tinh_tre": "Nam" if sex is Sex.MALE else "Nữ",
        "noi_sinh": "Bệnh viện Đa khoa tỉnh Hậu Giang",
        "dan_toc_tre": "01",
        "quoc_tich_tre": "VN",
        "que_quan_tre": "Hậu Giang",
        "ho_ten_me": mother.full_name,
        "so_dinh_danh_me": mother_id or mother.personal_id,
        "ngay_sinh_me": f"{mother.date_of_birth:%d/%m/%Y}",
        "dan_toc_me": "01",
        "quoc_tich_me": "VN",
        "ma_tinh": "93" if pre_merger_units else "92",
        "ma_xa": "31359" if pre_merger_units else "31360",
        "dia_chi": "Ấp Láng Hầm",
    }
    if mother_id:
        del filing["ngay_sinh_me"]
    if father is not None:
        filing |= {
            "ho_ten_cha": father.full_name,
            "so_dinh_danh_cha": father.personal_id,
            "dan_toc_cha": "01",
            "quoc_tich_cha": "VN",
        }
    return filing


def business_filing(registry: PopulationRegistry, rng: random.Random, *, employees: int = 12) -> dict[str, Any]:
    """A canonical business-registration filing whose representative is in the registry."""
    representative = _pick(registry, rng, rng.choice([Sex.MALE, Sex.FEMALE]))
    return {
        "enterprise_name": f"Công ty TNHH {rng.choice(['Nông sản', 'Thủy sản', 'Xây dựng', 'Du lịch'])} "
        f"{representative.full_name.split()[-1]} Hậu Giang",
        "enterprise_type": "TNHH",
        "head_office": {"commune_code": "31360", "province_code": "92", "street": "Quốc lộ 1A"},
        "legal_representative": {
            "full_name": representative.full_name,
            "personal_id": representative.personal_id,
            "date_of_birth": f"{representative.date_of_birth:%d/%m/%Y}",
            "sex": representative.sex.value,
            "title": "Giám đốc",
            "contact_address": {"commune_code": representative.commune_code},
        },
        "main_business_line": {"code": "0118", "name": "Trồng rau, đậu các loại và trồng hoa"},
        "other_business_lines": [{"code": "4620"}],
        "vat_method": "deduction",
        "charter_capital_vnd": 2_000_000_000,
        "employees": employees,
    }


def death_filing(
    registry: PopulationRegistry,
    rng: random.Random,
    *,
    insured: bool,
    residence_removal: bool = True,
    funeral_allowance: bool = True,
) -> dict[str, Any]:
    """A canonical death filing; ``insured`` picks a deceased whom the insurance sandbox covers."""
    candidates = sorted(
        (
            c
            for c in registry.citizens.values()
            if c.commune_code
            and c.personal_id not in registry.deceased
            and (int(c.personal_id[-1]) % 3 != 0) == insured
        ),
        key=lambda c: c.personal_id,
    )
    deceased = rng.choice(candidates)
    declarant = _pick(registry, rng, rng.choice([Sex.MALE, Sex.FEMALE]))
    return {
        "death_notice_no": f"GBT-{rng.randrange(10**6):06d}",
        "death_notice_issuer": "Trung tâm Y tế huyện Châu Thành A",
        "deceased": {
            "full_name": deceased.full_name,
            "personal_id": deceased.personal_id,
            "date_of_birth": f"{deceased.date_of_birth:%d/%m/%Y}",
            "sex": deceased.sex.value,
            "ethnicity": "01",
            "nationality": "VN",
            "last_residence": {"commune_code": deceased.commune_code, "street": "Ấp Long Thạnh"},
        },
        "date_of_death": f"{date.today() - timedelta(days=2):%d/%m/%Y}",
        "time_of_death": "04:30",
        "place_of_death": "Trung tâm Y tế huyện Châu Thành A",
        "cause_of_death": "bệnh già",
        "declarant": {"full_name": declarant.full_name, "personal_id": declarant.personal_id, "relationship": "con"},
        "include_residence_removal": residence_removal,
        "include_funeral_allowance": funeral_allowance,
    }


def _party(citizen: Citizen) -> dict[str, Any]:
    return {
        "full_name": citizen.full_name,
        "personal_id": citizen.personal_id,
        "address": {"commune_code": citizen.commune_code},
    }


def land_transfer_filing(
    registry: PopulationRegistry, rng: random.Random, declared_value_vnd: int = 1_500_000_000
) -> dict[str, Any]:
    transferor = _pick(registry, rng, Sex.MALE)
    transferee = _pick(registry, rng, Sex.FEMALE)
    return {
        "parcel_no": str(rng.randrange(1, 900)),
        "map_sheet_no": str(rng.randrange(1, 60)),
        "land_use_purpose": "đất ở tại đô thị",
        "certificate": {
            "serial_no": f"CS {rng.randrange(10**6):06d}",
            "register_no": f"CS{rng.randrange(10**5):05d}",
            "issued_on": "15/03/2018",
            "issued_by": "Sở Tài nguyên và Môi trường tỉnh Hậu Giang",
        },
        "contract": {"number": f"{rng.randrange(1, 9999)}/2026/CCGD", "signed_on": date.today().isoformat()},
        "area_m2": 250.5,
        # Land records still carry pre-merger units: Phường V, Vị Thanh, Hậu Giang (now phường Vị Tân, Cần Thơ).
        "parcel_address": {"commune_code": "31327", "province_code": "93", "street": "Đường 3 Tháng 2"},
        "declared_value_vnd": declared_value_vnd,
        "transferor": _party(transferor),
        "transferee": _party(transferee),
        "complete_dossier_received_on": date.today().isoformat(),
    }


def criminal_record_filing(registry: PopulationRegistry, rng: random.Random, *, vneid_level: int) -> dict[str, Any]:
    """An application whose applicant holds a VNeID account of ``vneid_level``."""
    applicant = rng.choice(
        sorted(
            (
                c
                for c in registry.citizens.values()
                if c.commune_code and registry.vneid_level(c.personal_id) == vneid_level
            ),
            key=lambda c: c.personal_id,
        )
    )
    fourteen = f"{applicant.date_of_birth:%m}/{applicant.date_of_birth.year + 14}"
    return {
        "applicant": {
            "full_name": applicant.full_name,
            "personal_id": applicant.personal_id,
            "sex": applicant.sex.value,
            "date_of_birth": f"{applicant.date_of_birth:%d/%m/%Y}",
            "place_of_birth": "Hậu Giang",
            "nationality": "VN",
            "permanent_residence": {"commune_code": applicant.commune_code},
        },
        "residence_history": [
            {"from_month": fourteen, "address": "Ấp Láng Hầm, Châu Thành A, Hậu Giang", "occupation": "nông dân"},
        ],
        "certificate_type": 1,
        "purpose": "Bổ sung hồ sơ xin việc (job application)",
    }
