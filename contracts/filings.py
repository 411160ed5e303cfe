"""Canonical filings: what a citizen's dossier says, after ingest has translated the filer's format."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from contracts import units
from contracts.dates import parse_date
from contracts.identifiers import (
    IdentifierError,
    PersonalIdNumber,
    Sex,
    check_personal_id_matches,
)
from contracts.text import PersonName, Text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _vn_date(value: object) -> object:
    """Accept dd/mm/yyyy, as Vietnamese systems write dates, besides ISO yyyy-mm-dd."""
    return parse_date(value) if isinstance(value, str) and "/" in value else value


VnDate = Annotated[date, BeforeValidator(_vn_date)]


class Address(_Strict):
    """A place, always in the current administrative units: a pre-merger commune code is mapped
    to today's unit on validation, and kept in ``former_commune_code`` for the record."""

    commune_code: str = Field(pattern=r"^[0-9]{5}$")
    commune_name: str | None = Field(default=None, description="Filled in from the unit table")
    province_code: str | None = Field(
        default=None, pattern=r"^[0-9]{2}$", description="Pre- or post-merger code; stored as today's"
    )
    former_commune_code: str | None = Field(
        default=None, description="The pre-merger code as filed, kept for the record"
    )
    street: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _current_unit(cls, data: Any) -> Any:
        filed_province = data.get("province_code") if isinstance(data, dict) else None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("commune_code"), str)
            or not isinstance(filed_province, str | None)
        ):
            return data  # field validation reports what is missing or of the wrong type
        try:  # under an abolished province, the code can only be a pre-merger one
            former = filed_province is not None and units.abolished_province(filed_province)
            commune = units.canonical_commune(data["commune_code"], former=former)
        except units.UnknownUnitError as exc:
            raise ValueError(f"commune_code: {exc}") from None
        if filed_province:
            try:
                province = units.current_province(filed_province)
            except units.UnknownUnitError as exc:
                raise ValueError(f"province_code: {exc}") from None
            if province != commune.province_code:
                raise ValueError(
                    f"commune_code: commune {data['commune_code']} ({commune.name}) does not lie "
                    f"in province {filed_province}"
                )
        return data | {
            "commune_code": commune.code,
            "commune_name": commune.name,
            "province_code": commune.province_code,
            "former_commune_code": commune.former_code or data.get("former_commune_code"),
        }


class Parent(_Strict):
    full_name: PersonName
    personal_id: PersonalIdNumber
    date_of_birth: VnDate | None = None


class Child(_Strict):
    full_name: PersonName
    date_of_birth: VnDate
    sex: Sex
    place_of_birth: Text


class BirthFiling(_Strict):
    """Khai sinh: the birth-notice data (giấy chứng sinh) plus where the child will live."""

    birth_notice_no: str = Field(min_length=1, max_length=40)
    child: Child
    mother: Parent
    father: Parent | None = None
    residence: Address

    @model_validator(mode="after")
    def _parents_consistent(self) -> Self:
        for role, parent, sex in (("mother", self.mother, Sex.FEMALE), ("father", self.father, Sex.MALE)):
            if parent is None:
                continue
            digit = int(parent.personal_id[3])
            if (digit % 2 == 1) != (sex is Sex.FEMALE):
                raise ValueError(
                    f"{role}.personal_id: century/gender digit {digit} denotes a "
                    f"{'female' if digit % 2 else 'male'}, but the {role} must be {sex.value}"
                )
            if parent.date_of_birth is not None:
                try:
                    check_personal_id_matches(parent.personal_id, parent.date_of_birth, sex)
                except IdentifierError as exc:
                    raise ValueError(f"{role}.personal_id: {exc}") from None
        if self.child.date_of_birth > date.today():
            raise ValueError("child.date_of_birth: the date of birth is in the future")
        return self


class Representative(_Strict):
    full_name: PersonName
    personal_id: PersonalIdNumber


class BusinessFiling(_Strict):
    """Đăng ký doanh nghiệp: a new enterprise, its head office and legal representative."""

    enterprise_name: Text = Field(min_length=3, max_length=200)
    enterprise_type: Literal["TNHH", "CP", "DNTN", "HD"] = Field(
        description="TNHH limited liability, CP joint-stock, DNTN sole proprietorship, HD partnership"
    )
    head_office: Address
    legal_representative: Representative
    charter_capital_vnd: int = Field(gt=0)
    employees: int = Field(ge=0, le=1_000_000)


class Declarant(_Strict):
    full_name: PersonName
    personal_id: PersonalIdNumber
    relationship: Text = Field(min_length=1, max_length=50, description="To the deceased, e.g. con (child)")


class DeathFiling(_Strict):
    """Khai tử: the death notice (giấy báo tử) and which linked procedures the family asks for."""

    death_notice_no: str = Field(min_length=1, max_length=40)
    deceased: Representative
    date_of_death: VnDate
    place_of_death: Text
    declarant: Declarant
    include_residence_removal: bool = Field(description="Also remove the permanent residence registration")
    include_funeral_allowance: bool = Field(description="Also claim the funeral allowance (trợ cấp mai táng)")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.date_of_death > date.today():
            raise ValueError("date_of_death: the date of death is in the future")
        if self.declarant.personal_id == self.deceased.personal_id:
            raise ValueError("declarant.personal_id: the declarant cannot be the deceased")
        return self


class LandParty(_Strict):
    full_name: PersonName
    personal_id: PersonalIdNumber


class LandTransferFiling(_Strict):
    """Chuyển nhượng quyền sử dụng đất: the land registration office's transfer dossier, whose
    form no. 15 fields (phiếu chuyển thông tin) go to the tax office."""

    parcel_no: str = Field(min_length=1, max_length=40, description="Land parcel (thửa đất) number and map sheet")
    area_m2: float = Field(gt=0)
    parcel_address: Address
    declared_value_vnd: int = Field(gt=0, description="Transfer price declared in the contract")
    transferor: LandParty
    transferee: LandParty
    complete_dossier_received_on: VnDate = Field(description="Date the complete dossier was received")

    @model_validator(mode="after")
    def _two_parties(self) -> Self:
        if self.transferor.personal_id == self.transferee.personal_id:
            raise ValueError("transferee.personal_id: the transferee cannot be the transferor")
        return self


class CriminalRecordFiling(_Strict):
    """Phiếu lý lịch tư pháp: filed online by the applicant logged in with VNeID (whose level the
    procedure checks with the population registry)."""

    applicant: Representative
    certificate_type: Literal[1, 2] = Field(description="Phiếu số 1 or số 2")
    purpose: Text = Field(min_length=1, max_length=200)


FILING_MODELS: dict[str, type[BaseModel]] = {
    "birth": BirthFiling,
    "business": BusinessFiling,
    "death": DeathFiling,
    "land_transfer": LandTransferFiling,
    "criminal_record": CriminalRecordFiling,
}
"""Filing kinds a procedure may declare, by name."""
