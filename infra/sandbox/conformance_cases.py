"""The conformance cases the sandbox agencies pass: parameters drawn from their synthetic data.

A team testing its own system writes a cases file with its test system's data instead
(docs/agencies.md); these are also the model for one. Cases that leave a record (a removed
residence, a paid allowance, a health card) pick a different person each run, so the suite can be
run again against the same sandbox.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from contracts.identifiers import Sex, make_personal_id, tax_check_digit
from infra.conformance import Case
from infra.sandbox.citizens import Citizen
from infra.sandbox.population import PopulationRegistry

PROVINCE = "93"  # Hậu Giang (Cần Thơ since the 2025 merger), the sandbox's province
HOSPITAL = "Bệnh viện Đa khoa tỉnh Hậu Giang"


def _ref(c: Citizen) -> dict[str, str]:
    return {"full_name": c.full_name, "personal_id": c.personal_id}


def _tax_code(rng: random.Random) -> str:
    while True:
        first_nine = f"{PROVINCE}{rng.randrange(10_000_000):07d}"
        if (check := tax_check_digit(first_nine)) is not None:
            return f"{first_nine}{check}"


def sandbox_cases(seed: int = 2026, citizens: int = 300) -> dict[str, Case]:
    """Cases for every action the sandbox performs (the payment gateway's excepted: it answers
    through its callback), for a sandbox started with ``seed`` and ``citizens``."""
    registry = PopulationRegistry(seed, citizens)
    adults = sorted((c for c in registry.citizens.values() if c.commune_code), key=lambda c: c.personal_id)
    rng = random.Random()  # a different person each run for what leaves a record
    person, other = rng.sample(adults, 2)
    level_two = next(c for c in adults if registry.vneid_level(c.personal_id) == 2)
    level_one = next(c for c in adults if registry.vneid_level(c.personal_id) == 1)
    insured = [c for c in adults if int(c.personal_id[-1]) % 3 != 0]
    uninsured = next(c for c in adults if int(c.personal_id[-1]) % 3 == 0)
    newborn_on = date.today() - timedelta(days=30)
    child_sex = rng.choice([Sex.MALE, Sex.FEMALE])
    child_id = make_personal_id(PROVINCE, newborn_on, child_sex, rng.randrange(1_000_000))
    stranger = next(
        pid
        for pid in (make_personal_id(PROVINCE, date(1990, 1, 1), Sex.MALE, rng.randrange(1_000_000)) for _ in range(99))
        if pid not in registry.citizens
    )
    deceased = rng.choice(insured)
    birth = {
        "birth_notice_no": f"GCS-{rng.randrange(1_000_000):06d}",
        "child_full_name": "Nguyễn Văn An",
        "child_date_of_birth": newborn_on.isoformat(),
        "child_sex": child_sex.value,
        "place_of_birth": HOSPITAL,
        "child_ethnicity": "01",
        "child_nationality": "VN",
        "mother": _ref(person),
        "requester": _ref(person) | {"relationship": "mẹ"},
        "commune_code": person.commune_code,
    }
    return {
        "verify_citizen": Case(
            {"personal_id": person.personal_id, "full_name": person.full_name},
            {"personal_id": stranger, "full_name": person.full_name},
        ),
        "check_vneid_level": Case(
            {"personal_id": level_two.personal_id, "minimum_level": 2},
            {"personal_id": level_one.personal_id, "minimum_level": 2},
        ),
        "assign_personal_id": Case(
            {
                "full_name": "Nguyễn Văn An",
                "date_of_birth": newborn_on.isoformat(),
                "sex": child_sex.value,
                "province_code": PROVINCE,
                "birth_certificate_no": f"KS-{rng.randrange(1_000_000):06d}",
            }
        ),
        "register_residence": Case(
            {
                "personal_id": person.personal_id,
                "full_name": person.full_name,
                "commune_code": person.commune_code,
                "household_member_id": other.personal_id,
            },
            {
                "personal_id": stranger,
                "full_name": person.full_name,
                "commune_code": person.commune_code,
                "household_member_id": other.personal_id,
            },
        ),
        "remove_residence": Case(
            {
                "personal_id": deceased.personal_id,
                "death_certificate_no": "KT-2026-00001",
                "commune_code": deceased.commune_code,
            },
            {"personal_id": stranger, "death_certificate_no": "KT-2026-00002", "commune_code": deceased.commune_code},
        ),
        "issue_health_card": Case(
            {
                "personal_id": child_id,
                "full_name": "Nguyễn Văn An",
                "date_of_birth": newborn_on.isoformat(),
                "sex": child_sex.value,
                "province_code": PROVINCE,
            },
            {
                "personal_id": person.personal_id,
                "full_name": person.full_name,
                "date_of_birth": person.date_of_birth.isoformat(),
                "sex": person.sex.value,
                "province_code": PROVINCE,
            },
        ),
        "pay_funeral_allowance": Case(
            {
                "deceased_id": deceased.personal_id,
                "death_certificate_no": "KT-2026-00001",
                "beneficiary_id": other.personal_id,
                "beneficiary_name": other.full_name,
            },
            {
                "deceased_id": uninsured.personal_id,
                "death_certificate_no": "KT-2026-00003",
                "beneficiary_id": other.personal_id,
                "beneficiary_name": other.full_name,
            },
        ),
        "register_employer": Case(
            {"unit_code": _tax_code(rng), "unit_name": "Công ty TNHH Liên Thông", "employees": 12},
            {"unit_code": "$register_employer.unit_code", "unit_name": "Công ty TNHH Liên Thông", "employees": 12},
        ),
        "register_birth": Case(birth, birth | {"place_of_birth": "Tại nhà, ấp Long An"}),
        "register_death": Case(
            {
                "death_notice_no": f"GBT-{rng.randrange(1_000_000):06d}",
                "deceased": _ref(deceased),
                "deceased_sex": deceased.sex.value,
                "deceased_ethnicity": "01",
                "deceased_nationality": "VN",
                "last_residence_commune_code": deceased.commune_code,
                "date_of_death": (date.today() - timedelta(days=2)).isoformat(),
                "place_of_death": HOSPITAL,
                "declarant": _ref(other) | {"relationship": "con"},
            }
        ),
        "check_criminal_record": Case(
            {
                "applicant": _ref(person),
                "applicant_date_of_birth": person.date_of_birth.isoformat(),
                "applicant_sex": person.sex.value,
                "place_of_birth": "Hậu Giang",
                "residence_history": [
                    {"from_month": f"{person.date_of_birth:%m}/{person.date_of_birth.year + 14}", "address": "Cần Thơ"}
                ],
                "certificate_type": 1,
                "purpose": "bổ sung hồ sơ xin việc",
                "fee_transaction_id": "PG-0001",
            }
        ),
        "compute_land_obligations": Case(
            {
                "dossier_code": "000.00.31.H26-261127-0001",
                "complete_dossier_received_on": date.today().isoformat(),
                "procedure_type": "chuyển nhượng quyền sử dụng đất",
                "land_user_name": person.full_name,
                "land_user_id": person.personal_id,
                "address_commune_code": person.commune_code,
                "parcel_no": "12",
                "map_sheet_no": "3",
                "land_use_purpose": "đất ở tại đô thị",
                "declared_value_vnd": 1_500_000_000,
                "area_m2": 120.5,
            }
        ),
        "confirm_obligations": Case(
            {
                "notice_no": "$compute_land_obligations.notice_no",
                "transaction_id": "PG-0002",
                "amount_vnd": "$compute_land_obligations.total_vnd",
            },
            {"notice_no": "TB-NO-SUCH-NOTICE", "transaction_id": "PG-0003", "amount_vnd": 1},
        ),
        "issue_enterprise_code": Case(
            {
                "enterprise_name": "Công ty TNHH Liên Thông",
                "province_code": PROVINCE,
                "representative_id": person.personal_id,
                "main_business_line": "0118",
                "vat_method": "deduction",
            }
        ),
        "return_result": Case({"documents": {"birth_certificate_no": "KS-93001-2026-00001"}}),
    }
