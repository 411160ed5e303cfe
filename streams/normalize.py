"""Translate agency-native filings into canonical dossier events (pure functions, no I/O).

Every rejection is a :class:`FilingRejected` whose message names the field as the filer wrote it
and the rule it broke.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from contracts import dates
from contracts.envelope import describe_error
from contracts.errors import FilingRejected
from contracts.events import DossierFiled
from contracts.filings import BirthFiling
from contracts.identifiers import Sex
from contracts.native import JusticeBirthFiling
from contracts.status import Channel
from contracts.text import normalize_text

# Canonical path -> the filer's field name, so errors speak the filer's language.
_JUSTICE_FIELDS = {
    "requester.full_name": "ho_ten_nguoi_yeu_cau",
    "requester.personal_id": "so_dinh_danh_nguoi_yeu_cau",
    "requester.relationship": "quan_he_nguoi_yeu_cau",
    "birth_notice_no": "so_giay_chung_sinh",
    "child.full_name": "ho_ten_tre",
    "child.date_of_birth": "ngay_sinh_tre",
    "child.sex": "gioi_tinh_tre",
    "child.place_of_birth": "noi_sinh",
    "child.ethnicity": "dan_toc_tre",
    "child.nationality": "quoc_tich_tre",
    "child.hometown": "que_quan_tre",
    "mother.ethnicity": "dan_toc_me",
    "mother.nationality": "quoc_tich_me",
    "father.ethnicity": "dan_toc_cha",
    "father.nationality": "quoc_tich_cha",
    "copies_requested": "so_ban_sao",
    "mother.full_name": "ho_ten_me",
    "mother.personal_id": "so_dinh_danh_me",
    "mother.date_of_birth": "ngay_sinh_me",
    "father.full_name": "ho_ten_cha",
    "father.personal_id": "so_dinh_danh_cha",
    "father.date_of_birth": "ngay_sinh_cha",
    "residence.street": "dia_chi",
    # Address maps pre-merger units itself; its errors come as "residence: <field>: …".
    "residence: commune_code": "ma_xa",
    "residence: province_code": "ma_tinh",
}
_CANONICAL_PATH = re.compile(r"\b(" + "|".join(re.escape(k) for k in _JUSTICE_FIELDS) + r")\b")


def parse_date(value: str, field: str) -> date:
    try:
        return dates.parse_date(value)
    except ValueError as exc:
        raise FilingRejected(f"{field}: {exc}") from None


def parse_received_at(value: str, field: str) -> datetime:
    try:
        return dates.parse_moment(value)
    except ValueError as exc:
        raise FilingRejected(f"{field}: {exc}") from None


def parse_sex(value: str, field: str) -> Sex:
    word = normalize_text(value).casefold()
    if word in ("nam", "male"):
        return Sex.MALE
    if word in ("nữ", "nu", "female"):
        return Sex.FEMALE
    raise FilingRejected(f"{field}: {value!r} is not a sex (expected Nam or Nữ)")


def _parent(native: JusticeBirthFiling, prefix: str, suffix: str) -> dict | None:
    fields = {f: getattr(native, f"{f}_{suffix}") for f in ("ho_ten", "so_dinh_danh", "dan_toc", "quoc_tich")}
    if all(value is None for value in fields.values()):
        return None
    if missing := [f"{f}_{suffix}" for f, value in fields.items() if value is None]:
        raise FilingRejected(f"{missing[0]}: required when the {prefix} is named")
    dob = getattr(native, f"ngay_sinh_{suffix}")
    return {
        "full_name": fields["ho_ten"],
        "personal_id": fields["so_dinh_danh"],
        "date_of_birth": parse_date(dob, f"ngay_sinh_{suffix}") if dob else None,
        "ethnicity": fields["dan_toc"],
        "nationality": fields["quoc_tich"],
    }


def justice_birth(raw: dict[str, Any]) -> DossierFiled:
    """A civil-status birth filing (native format) → the canonical ``DossierFiled`` event."""
    try:
        native = JusticeBirthFiling.model_validate(raw)
    except ValidationError as exc:
        raise FilingRejected(describe_error(exc)) from None
    try:
        channel = Channel(native.kenh_nop)
    except ValueError:
        raise FilingRejected(f"kenh_nop: {native.kenh_nop} is not a channel (1, 2 or 3)") from None
    try:
        filing = BirthFiling(
            requester={
                "full_name": native.ho_ten_nguoi_yeu_cau,
                "personal_id": native.so_dinh_danh_nguoi_yeu_cau,
                "relationship": native.quan_he_nguoi_yeu_cau,
            },
            birth_notice_no=native.so_giay_chung_sinh,
            child={
                "full_name": native.ho_ten_tre,
                "date_of_birth": parse_date(native.ngay_sinh_tre, "ngay_sinh_tre"),
                "sex": parse_sex(native.gioi_tinh_tre, "gioi_tinh_tre"),
                "place_of_birth": native.noi_sinh,
                "ethnicity": native.dan_toc_tre,
                "nationality": native.quoc_tich_tre,
                "hometown": native.que_quan_tre,
            },
            mother=_parent(native, "mother", "me"),
            father=_parent(native, "father", "cha"),
            residence={"commune_code": native.ma_xa, "province_code": native.ma_tinh, "street": native.dia_chi},
            copies_requested=native.so_ban_sao,
        )
    except ValidationError as exc:
        message = describe_error(exc)
        raise FilingRejected(_CANONICAL_PATH.sub(lambda m: _JUSTICE_FIELDS[m[1]], message)) from None
    try:
        return DossierFiled(
            dossier_id=native.ma_ho_so,
            procedure="birth_bundle",
            received_at=parse_received_at(native.ngay_tiep_nhan, "ngay_tiep_nhan"),
            channel=channel,
            filed_by="justice",
            filing=filing.model_dump(mode="json"),
        )
    except ValidationError as exc:  # the receipt time: the one field checked here
        raise FilingRejected(describe_error(exc).replace("received_at:", "ngay_tiep_nhan:")) from None
