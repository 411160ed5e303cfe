"""Identifiers against independent oracles: tax codes against python-stdnum (``stdnum.vn.mst``),
personal IDs against their own composition rule, nationalities against ISO 3166-1; property-based
(hypothesis), so the rules are checked on thousands of generated values, not a handful."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from stdnum.vn import mst

from contracts.envelope import describe_error
from contracts.errors import IdentifierError
from contracts.identifiers import (
    ETHNIC_GROUPS,
    EthnicityCode,
    Nationality,
    Sex,
    check_personal_id,
    check_personal_id_matches,
    check_tax_code,
    make_personal_id,
)
from contracts.units import province_name

digits = st.text(alphabet="0123456789", min_size=10, max_size=10)
branches = st.one_of(st.none(), st.text(alphabet="0123456789", min_size=3, max_size=3))


def _ours(value: str) -> str | None:
    try:
        return check_tax_code(value)
    except IdentifierError:
        return None


@settings(deadline=None)  # a timing limit is no rule of the identifier: CI machines vary
@given(digits, branches, st.booleans())
@example("0100233488", None, False)  # stdnum's own examples
@example("0314409058", "002", True)
@example("0100233480", None, False)  # wrong check digit
@example("0100000003", None, False)  # sequence 0000000, right check digit
@example("0100100079", "000", True)  # branch 000
def test_a_tax_code_is_valid_exactly_when_stdnum_says_so(base, branch, dashed):
    value = base + (("-" if dashed else "") + branch if branch else "")
    assert (_ours(value) is not None) == mst.is_valid(value)
    if mst.is_valid(value):
        assert _ours(value) == mst.format(value)  # the same canonical form: NNNNNNNNNN[-NNN]


@st.composite
def holders(draw):
    province = draw(st.sampled_from([f"{n:02d}" for n in range(1, 100) if province_name(f"{n:02d}")]))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)))
    sex = draw(st.sampled_from(list(Sex)))
    return province, born, sex, draw(st.integers(0, 999_999))


@settings(deadline=None)
@given(holders())
def test_a_composed_personal_id_matches_its_holder_and_no_other(holder):
    province, born, sex, serial = holder
    pid = make_personal_id(province, born, sex, serial)
    assert check_personal_id(pid) == pid
    check_personal_id_matches(pid, born, sex)
    other = Sex.FEMALE if sex is Sex.MALE else Sex.MALE
    with pytest.raises(IdentifierError, match="century/gender digit"):
        check_personal_id_matches(pid, born, other)


class Person(BaseModel):
    ethnicity: EthnicityCode
    nationality: Nationality


def test_ethnicity_is_one_of_the_54_official_codes():
    assert len(ETHNIC_GROUPS) == 54 and ETHNIC_GROUPS["01"] == "Kinh" and ETHNIC_GROUPS["54"] == "Rơ-măm"
    assert Person(ethnicity="17", nationality="VN").ethnicity == "17"  # Chăm
    for wrong in ("00", "55", "1", "Kinh"):
        with pytest.raises(ValidationError) as info:
            Person(ethnicity=wrong, nationality="VN")
        assert describe_error(info.value).startswith("ethnicity: ")


@settings(deadline=None)
@given(st.text(min_size=0, max_size=4))
@example("vn")
@example("VNM")
@example("XK")
@example("ıt")  # upper-cases to IT, but is no country code
def test_a_nationality_is_an_iso_3166_alpha_2_code(value):
    import iso3166

    given = value.strip()
    known = len(given) == 2 and given.isascii() and given.upper() in iso3166.countries_by_alpha2
    try:
        person = Person(ethnicity="01", nationality=value)
    except ValidationError as exc:
        assert not known and describe_error(exc).startswith("nationality: ")
    else:
        assert known and person.nationality == value.strip().upper()
