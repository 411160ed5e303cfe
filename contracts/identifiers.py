"""Vietnamese identifiers, each validated by one function whose errors name the rule broken.

Every rule raises :class:`IdentifierError` (a ``ValueError``), so pydantic reports it against the
field being validated, e.g. ``mother.personal_id: ... must be 12 digits``.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated

import iso3166
from pydantic import AfterValidator, BeforeValidator

from contracts import units
from contracts.errors import IdentifierError


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


_DIGITS_12 = re.compile(r"[0-9]{12}")
_BHYT = re.compile(r"[A-Z]{2}[1-5][0-9]{2}[0-9]{10}")
_BHXH = re.compile(r"[0-9]{10}")
# Agency e-ID (Decision 20/2020/QĐ-TTg: digits, A–Z, dots, ≤ 35 chars) - yyMMdd - 4-digit sequence.
_DOSSIER_CODE = re.compile(r"(?P<agency>[0-9A-Z.]{1,35})-(?P<date>[0-9]{6})-(?P<seq>[0-9]{4})")


def _century_gender_digit(birth_year: int, sex: Sex) -> int:
    century_index = birth_year // 100 - 19  # 1900s → 0, 2000s → 1, 2100s → 2
    if not 0 <= century_index <= 4:
        raise IdentifierError(f"birth year {birth_year} is outside the years the scheme encodes")
    return century_index * 2 + (1 if sex is Sex.FEMALE else 0)


def check_personal_id(value: str) -> str:
    """Validate the shape of a personal identification number (số định danh cá nhân / CCCD).

    Rules: exactly 12 digits; the first three are "0" + a known province code.
    """
    if not isinstance(value, str) or not _DIGITS_12.fullmatch(value):
        raise IdentifierError(f"personal ID number must be 12 digits (got {len(str(value))} characters)")
    province = value[:3]
    if province[0] != "0" or units.province_name(province[1:]) is None:
        raise IdentifierError(
            f"personal ID number starts with {province}, which is not a known province-of-birth-registration code"
        )
    return value


def check_personal_id_matches(value: str, date_of_birth: date, sex: Sex) -> None:
    """Check the century/gender digit and the two year digits against the holder's birth and sex."""
    expected = _century_gender_digit(date_of_birth.year, Sex(sex))
    if int(value[3]) != expected:
        raise IdentifierError(
            f"personal ID number has century/gender digit {value[3]}, but a {Sex(sex).value} "
            f"born in {date_of_birth.year} must have {expected}"
        )
    if value[4:6] != f"{date_of_birth.year % 100:02d}":
        raise IdentifierError(
            f"personal ID number has birth-year digits {value[4:6]}, but the holder was born in {date_of_birth.year}"
        )


def make_personal_id(province_code: str, date_of_birth: date, sex: Sex, serial: int) -> str:
    """Compose a personal ID number (used by the population registry sandbox)."""
    digit = _century_gender_digit(date_of_birth.year, sex)
    return check_personal_id(f"0{province_code}{digit}{date_of_birth.year % 100:02d}{serial:06d}")


def check_bhyt_card(value: str) -> str:
    """Validate a health-insurance card number (mã thẻ BHYT): on cards since 1 April 2021
    (Decision 1666/QĐ-BHXH) the 10-digit social-insurance code alone; before, 15 characters
    (Decision 1351/QĐ-BHXH): 2 letters (beneficiary group), benefit level 1-5, 2-digit issuing
    province, then the 10-digit social-insurance code."""
    if not isinstance(value, str) or not (_BHYT.fullmatch(value) or _BHXH.fullmatch(value)):
        raise IdentifierError(
            "health-insurance card number must be the 10-digit social-insurance code, or the former "
            "15 characters: 2 capital letters (beneficiary group), a benefit level 1-5, a 2-digit "
            f"province code and the 10-digit social-insurance code, e.g. TE19231012345678 (got {value!r})"
        )
    return value


def check_bhxh_code(value: str) -> str:
    """Validate a social-insurance code (mã số BHXH): 10 digits."""
    if not isinstance(value, str) or not _BHXH.fullmatch(value):
        raise IdentifierError(f"social-insurance code must be 10 digits (got {value!r})")
    return value


_TAX_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
_TAX_CODE = re.compile(r"(?P<base>[0-9]{10})(?:-?(?P<branch>[0-9]{3}))?")


def tax_check_digit(first_nine: str) -> int | None:
    """Check digit of a tax code (mã số thuế) from its first nine digits, as python-stdnum computes
    it: 10 - (weighted sum mod 11). None when that is 10, i.e. no valid code has these digits.
    *Unconfirmed as the official rule*: this is the only place it lives."""
    check = 10 - sum(w * int(d) for w, d in zip(_TAX_WEIGHTS, first_nine, strict=True)) % 11
    return None if check == 10 else check


def check_tax_code(value: str) -> str:
    """Validate a tax code: 10 digits with a valid check digit, or 13 digits written
    ``NNNNNNNNNN-NNN`` for a dependent unit; returns the canonical (dashed) form."""
    match = _TAX_CODE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise IdentifierError(f"tax code must be 10 digits, or 13 written NNNNNNNNNN-NNN (got {value!r})")
    base, branch = match["base"], match["branch"]
    if base[2:9] == "0000000":
        raise IdentifierError(f"tax code {base}: the sequence (digits 3-9) runs from 0000001, not 0000000")
    if tax_check_digit(base[:9]) != int(base[9]):
        raise IdentifierError(f"tax code {base} has a wrong check digit")
    if branch == "000":
        raise IdentifierError("tax code branch suffix must be 001-999")
    return f"{base}-{branch}" if branch else base


_ETHNIC_NAMES = (
    "Kinh", "Tày", "Thái", "Hoa", "Khơ-me", "Mường", "Nùng", "Hmông", "Dao", "Gia-rai",
    "Ngái", "Ê-đê", "Ba-na", "Xơ-đăng", "Sán Chay", "Cơ-ho", "Chăm", "Sán Dìu", "Hrê", "Mnông",
    "Ra-glai", "Xtiêng", "Bru-Vân Kiều", "Thổ", "Giáy", "Cơ-tu", "Gié-Triêng", "Mạ", "Khơ-mú", "Co",
    "Ta-ôi", "Chơ-ro", "Kháng", "Xinh-mun", "Hà Nhì", "Chu-ru", "Lào", "La Chí", "La Ha", "Phù Lá",
    "La Hủ", "Lự", "Lô Lô", "Chứt", "Mảng", "Pà Thẻn", "Co Lao", "Cống", "Bố Y", "Si La",
    "Pu Péo", "Brâu", "Ơ-đu", "Rơ-măm",
)  # fmt: skip
ETHNIC_GROUPS: dict[str, str] = {f"{n:02d}": name for n, name in enumerate(_ETHNIC_NAMES, start=1)}
"""The 54 ethnic groups by their two-digit codes in the General Statistics Office's list of
Decision 121-TCTK/PPCĐ (2 March 1979). A later GSO list orders 04-06 as Mường, Khmer, Hoa; which
numbering the civil-status and population databases use is unconfirmed (docs/forms.md)."""


def check_ethnicity_code(value: str) -> str:
    """Validate an ethnicity code (mã dân tộc): one of the 54 official codes, 01 (Kinh) to 54 (Rơ-măm)."""
    if not isinstance(value, str) or value not in ETHNIC_GROUPS:
        raise IdentifierError(f"ethnicity must be one of the 54 official codes 01 (Kinh) to 54 (Rơ-măm), got {value!r}")
    return value


def check_nationality(value: str) -> str:
    """Validate a nationality: an ISO 3166-1 alpha-2 country code (``VN``), by the iso3166 package."""
    two_letters = isinstance(value, str) and len(value) == 2 and value.isascii()
    country = iso3166.countries_by_alpha2.get(value.upper()) if two_letters else None
    if country is None:
        raise IdentifierError(f"nationality must be an ISO 3166-1 alpha-2 country code such as VN, got {value!r}")
    return country.alpha2


def check_dossier_code(value: str) -> str:
    """Validate a dossier code (mã hồ sơ) shape: ``<agency e-ID>-<yyMMdd>-<NNNN>``."""
    match = _DOSSIER_CODE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise IdentifierError(
            "dossier code must look like <agency e-ID>-<yyMMdd>-<4-digit sequence>, "
            f"e.g. 000.00.01.H26-260930-0012 (got {value!r})"
        )
    try:
        date(2000 + int(match["date"][:2]), int(match["date"][2:4]), int(match["date"][4:]))
    except ValueError:
        raise IdentifierError(f"dossier code {value!r} carries an impossible date") from None
    return value


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


PersonalIdNumber = Annotated[str, BeforeValidator(_strip), AfterValidator(check_personal_id)]
BhytCardNumber = Annotated[str, BeforeValidator(_strip), AfterValidator(check_bhyt_card)]
BhxhCode = Annotated[str, BeforeValidator(_strip), AfterValidator(check_bhxh_code)]
DossierCode = Annotated[str, BeforeValidator(_strip), AfterValidator(check_dossier_code)]
TaxCode = Annotated[str, BeforeValidator(_strip), AfterValidator(check_tax_code)]
EthnicityCode = Annotated[str, BeforeValidator(_strip), AfterValidator(check_ethnicity_code)]
Nationality = Annotated[str, BeforeValidator(_strip), AfterValidator(check_nationality)]
