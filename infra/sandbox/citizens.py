"""Seeded synthetic citizens for the population registry sandbox (deterministic from a seed)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from contracts import units
from contracts.identifiers import Sex, make_personal_id

_FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Huỳnh",
    "Hoàng",
    "Võ",
    "Phan",
    "Trương",
    "Bùi",
    "Đặng",
    "Đỗ",
    "Ngô",
    "Dương",
    "Lý",
]
_MIDDLE = {
    Sex.MALE: ["Văn", "Hữu", "Minh", "Quốc", "Thành", "Đức"],
    Sex.FEMALE: ["Thị", "Ngọc", "Thanh", "Kim", "Mỹ", "Bích"],
}
_GIVEN = {
    Sex.MALE: [
        "An",
        "Bình",
        "Cường",
        "Dũng",
        "Hải",
        "Hùng",
        "Khang",
        "Long",
        "Nam",
        "Phúc",
        "Quân",
        "Sơn",
        "Tài",
        "Trung",
        "Vinh",
    ],
    Sex.FEMALE: [
        "Anh",
        "Châu",
        "Diễm",
        "Hà",
        "Hằng",
        "Hương",
        "Lan",
        "Linh",
        "Mai",
        "Ngân",
        "Nhung",
        "Phương",
        "Thảo",
        "Trang",
        "Vy",
    ],
}
# Provinces of birth registration for adults living in today's Cần Thơ (incl. pre-merger ones).
_BIRTH_PROVINCES = ["93", "93", "93", "92", "94", "86", "79"]


@dataclass(frozen=True)
class Citizen:
    personal_id: str
    full_name: str
    date_of_birth: date
    sex: Sex
    commune_code: str


def random_name(rng: random.Random, sex: Sex, family: str | None = None) -> str:
    return f"{family or rng.choice(_FAMILY)} {rng.choice(_MIDDLE[sex])} {rng.choice(_GIVEN[sex])}"


def generate(seed: int = 2026, count: int = 300) -> list[Citizen]:
    """``count`` adults aged 20–55 with valid, unique personal ID numbers, living in current communes."""
    rng = random.Random(seed)
    communes = units.current_commune_codes()
    citizens: dict[str, Citizen] = {}
    while len(citizens) < count:
        sex = rng.choice([Sex.MALE, Sex.FEMALE])
        dob = date(1971, 1, 1) + timedelta(days=rng.randrange(35 * 365))
        pid = make_personal_id(rng.choice(_BIRTH_PROVINCES), dob, sex, rng.randrange(1_000_000))
        citizens.setdefault(pid, Citizen(pid, random_name(rng, sex), dob, sex, rng.choice(communes)))
    return list(citizens.values())
