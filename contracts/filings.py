"""Canonical filings: what a citizen's dossier says, after ingest has translated the filer's format.

Each filing carries the fields of its official declaration form (tờ khai), as docs/forms.md
lists them with their sources: what the officer of every agency involved would find on paper.
The hub keeps a person's personal ID number where a form offers it as one of several ways to
identify them, so the form's fallbacks for people without one (place of residence, date of birth
written out) are optional here.
"""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from contracts import units
from contracts.dates import parse_date
from contracts.identifiers import (
    EthnicityCode,
    IdentifierError,
    Nationality,
    PersonalIdNumber,
    Sex,
    check_personal_id_matches,
)
from contracts.text import PersonName, Text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _holder_of(personal_id: str, date_of_birth: date | None, sex: Sex, field: str = "personal_id") -> None:
    """ValueError naming ``field`` unless the ID's century/sex and year digits fit its holder (no
    check without a date of birth)."""
    if date_of_birth is None:
        return
    try:
        check_personal_id_matches(personal_id, date_of_birth, sex)
    except IdentifierError as exc:
        raise ValueError(f"{field}: {exc}") from None


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
    former_district_code: str | None = Field(
        default=None,
        pattern=r"^[0-9]{3}$",
        description="A pre-merger district code as old systems file it: checked against the commune, kept",
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
        filed, recorded = data["commune_code"], data.get("former_commune_code")
        # An address already in today's units names the pre-merger code it was filed under: derive
        # from that, so validating it again gives the same address.
        code = recorded if isinstance(recorded, str) and recorded != filed else filed
        district = data.get("former_district_code")
        if isinstance(district, str):
            try:
                units.check_former_district(district, code)
            except units.UnknownUnitError as exc:
                raise ValueError(f"former_district_code: {exc}") from None
        # Under an abolished province or a district, or recorded as such, the code is a pre-merger one.
        former = code != filed or isinstance(district, str)
        former = former or (filed_province is not None and units.abolished_province(filed_province))
        try:
            commune = units.canonical_commune(code, former=former)
        except units.UnknownUnitError as exc:
            raise ValueError(f"commune_code: {exc}") from None
        if code != filed and commune.code != filed:
            raise ValueError(f"former_commune_code: {code} became commune {commune.code}, not {filed}")
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


class Requester(_Strict):
    """Người yêu cầu: who files the declaration."""

    full_name: PersonName
    personal_id: PersonalIdNumber
    relationship: Text = Field(
        min_length=1, max_length=50, description="To the person the declaration is about, e.g. mẹ (mother), con (child)"
    )
    residence: Address | None = Field(default=None, description="Nơi cư trú; the form asks it of those with no ID")


class Parent(_Strict):
    full_name: PersonName
    personal_id: PersonalIdNumber
    date_of_birth: VnDate | None = Field(default=None, description="The form asks the year of birth")
    ethnicity: EthnicityCode = Field(description="Dân tộc, the official two-digit code")
    nationality: Nationality = Field(description="Quốc tịch, ISO 3166-1 alpha-2")
    residence: Address | None = None


class Child(_Strict):
    full_name: PersonName
    date_of_birth: VnDate
    sex: Sex
    place_of_birth: Text = Field(min_length=1, description="The health facility and its address, or the place's name")
    ethnicity: EthnicityCode
    nationality: Nationality
    hometown: Text | None = Field(default=None, description="Quê quán")


class MarriageCertificate(_Strict):
    """The parents' marriage registration, when they are married (giấy chứng nhận kết hôn)."""

    number: str = Field(min_length=1, max_length=40)
    book: str | None = Field(default=None, max_length=40, description="Quyển số")
    registered_on: VnDate
    registered_at: Text = Field(min_length=1, description="The authority that registered it")


class BirthFiling(_Strict):
    """Tờ khai đăng ký khai sinh (TT 04/2020/TT-BTP as amended by TT 04/2024/TT-BTP), with the
    birth notice (giấy chứng sinh) and where the child will live (for the linked residence
    registration)."""

    requester: Requester
    birth_notice_no: str = Field(min_length=1, max_length=40)
    child: Child
    mother: Parent
    father: Parent | None = None
    marriage_certificate: MarriageCertificate | None = None
    residence: Address
    copies_requested: int = Field(default=0, ge=0, le=20, description="Bản sao of the birth certificate wanted")

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
            _holder_of(parent.personal_id, parent.date_of_birth, sex, f"{role}.personal_id")
        if self.child.date_of_birth > date.today():
            raise ValueError("child.date_of_birth: the date of birth is in the future")
        return self


Phone = Annotated[str, Field(pattern=r"^(\+84|0)[0-9]{9,10}$", description="Vietnamese phone number")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}$", max_length=254)]


class Representative(_Strict):
    """The legal representative (người đại diện theo pháp luật), who also signs the form."""

    full_name: PersonName
    personal_id: PersonalIdNumber
    date_of_birth: VnDate
    sex: Sex
    title: Text = Field(min_length=1, max_length=100, description="Chức danh, e.g. Giám đốc")
    contact_address: Address
    phone: Phone | None = None
    email: Email | None = None

    @model_validator(mode="after")
    def _id_matches(self) -> Self:
        _holder_of(self.personal_id, self.date_of_birth, self.sex)
        return self


class BusinessLine(_Strict):
    code: str = Field(pattern=r"^[0-9]{4}$", description="VSIC level-4 code (ngành kinh tế cấp 4)")
    name: Text | None = None


class BusinessFiling(_Strict):
    """Giấy đề nghị đăng ký doanh nghiệp (TT 68/2025/TT-BTC, Annex I): a new enterprise, its names,
    head office, business lines, capital, legal representative and tax and insurance registration."""

    enterprise_name: Text = Field(min_length=3, max_length=200)
    enterprise_name_foreign: Text | None = Field(default=None, max_length=200)
    enterprise_name_short: Text | None = Field(default=None, max_length=100)
    enterprise_type: Literal["TNHH", "CP", "DNTN", "HD"] = Field(
        description="TNHH limited liability, CP joint-stock, DNTN sole proprietorship, HD partnership"
    )
    head_office: Address
    head_office_phone: Phone | None = None
    head_office_email: Email | None = None
    main_business_line: BusinessLine = Field(description="Ngành, nghề kinh doanh chính")
    other_business_lines: tuple[BusinessLine, ...] = ()
    legal_representative: Representative
    charter_capital_vnd: int = Field(gt=0)
    employees: int = Field(ge=0, le=1_000_000)
    vat_method: Literal["deduction", "direct"] = Field(description="Khấu trừ or trực tiếp")
    fiscal_year_start: str = Field(default="01/01", pattern=r"^(0[1-9]|[12][0-9]|3[01])/(0[1-9]|1[0-2])$")
    social_insurance_cycle: Literal["monthly", "quarterly", "semiannual"] = "monthly"
    beneficial_owner_declared: bool = Field(default=False, description="Chủ sở hữu hưởng lợi declared")

    @model_validator(mode="after")
    def _each_line_once(self) -> Self:
        codes = [self.main_business_line.code, *(line.code for line in self.other_business_lines)]
        if len(set(codes)) != len(codes):
            raise ValueError("other_business_lines: a line is listed twice (or is also the main line)")
        return self


class Deceased(_Strict):
    full_name: PersonName
    personal_id: PersonalIdNumber
    date_of_birth: VnDate | None = None
    sex: Sex
    ethnicity: EthnicityCode
    nationality: Nationality
    last_residence: Address = Field(description="Nơi cư trú cuối cùng: the residence to be removed")

    @model_validator(mode="after")
    def _id_matches(self) -> Self:
        _holder_of(self.personal_id, self.date_of_birth, self.sex)
        return self


class DeathFiling(_Strict):
    """Tờ khai đăng ký khai tử (TT 04/2020/TT-BTP as amended by TT 04/2024/TT-BTP), with the death
    notice (giấy báo tử) and which linked procedures the family asks for."""

    death_notice_no: str = Field(min_length=1, max_length=40, description="Số Giấy báo tử, or of its substitute")
    death_notice_issuer: Text | None = Field(default=None, description="Who issued it (do … cấp)")
    deceased: Deceased
    date_of_death: VnDate
    time_of_death: time | None = Field(default=None, description="Giờ, phút, as HH:MM")
    place_of_death: Text = Field(min_length=1)
    cause_of_death: Text | None = None
    declarant: Requester
    include_residence_removal: bool = Field(description="Also remove the permanent residence registration")
    include_funeral_allowance: bool = Field(description="Also claim the funeral allowance (trợ cấp mai táng)")
    copies_requested: int = Field(default=0, ge=0, le=20, description="Bản sao of the death certificate wanted")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.date_of_death > date.today():
            raise ValueError("date_of_death: the date of death is in the future")
        if self.deceased.date_of_birth is not None and self.deceased.date_of_birth > self.date_of_death:
            raise ValueError("deceased.date_of_birth: born after the date of death")
        if self.declarant.personal_id == self.deceased.personal_id:
            raise ValueError("declarant.personal_id: the declarant cannot be the deceased")
        return self


class LandParty(_Strict):
    full_name: PersonName
    personal_id: PersonalIdNumber
    address: Address = Field(description="Địa chỉ, in today's units")


class LandCertificate(_Strict):
    """The certificate of land use rights already issued (giấy chứng nhận) for the parcel."""

    serial_no: str = Field(min_length=1, max_length=40, description="Số phát hành")
    register_no: str = Field(min_length=1, max_length=40, description="Số vào sổ cấp giấy chứng nhận")
    issued_on: VnDate
    issued_by: Text = Field(min_length=1)


class TransferContract(_Strict):
    number: str = Field(min_length=1, max_length=40)
    signed_on: VnDate
    notarised_by: Text | None = Field(default=None, description="The notary office that certified it")


class LandTransferFiling(_Strict):
    """Đơn đăng ký biến động đất đai (Mẫu 11/ĐK, Decree 101/2024) for a transfer of land use rights,
    with the contract's price from the transfer tax declaration (03/BĐS-TNCN); the land office's
    form no. 15 (phiếu chuyển thông tin) takes its fields to the tax office."""

    parcel_no: str = Field(min_length=1, max_length=20, description="Thửa đất số")
    map_sheet_no: str = Field(min_length=1, max_length=20, description="Tờ bản đồ số")
    area_m2: float = Field(gt=0)
    parcel_address: Address
    land_use_purpose: Text = Field(min_length=1, description="Mục đích sử dụng, e.g. đất ở tại đô thị")
    land_use_term: Text | None = Field(default=None, description="Thời hạn sử dụng, e.g. lâu dài")
    land_origin: Text | None = Field(default=None, description="Nguồn gốc sử dụng")
    certificate: LandCertificate
    contract: TransferContract
    declared_value_vnd: int = Field(gt=0, description="Transfer price declared in the contract")
    transferor: LandParty
    transferee: LandParty
    new_certificate_wanted: bool = Field(default=True, description="Đề nghị cấp giấy chứng nhận mới")
    complete_dossier_received_on: VnDate = Field(description="Date the complete dossier was received")

    @model_validator(mode="after")
    def _two_parties(self) -> Self:
        if self.transferor.personal_id == self.transferee.personal_id:
            raise ValueError("transferee.personal_id: the transferee cannot be the transferor")
        if self.contract.signed_on > self.complete_dossier_received_on:
            raise ValueError("contract.signed_on: after the dossier was received")
        return self


MonthYear = Annotated[str, Field(pattern=r"^(0[1-9]|1[0-2])/(19|20)[0-9]{2}$", description="MM/YYYY")]


def _month_order(value: str) -> tuple[int, int]:
    month, year = value.split("/")
    return int(year), int(month)


class ResidencePeriod(_Strict):
    """One line of the residence history from age 14 (quá trình cư trú); dates and address are required."""

    from_month: MonthYear
    to_month: MonthYear | None = Field(default=None, description="None: to this day")
    address: Text = Field(min_length=1)
    occupation: Text | None = None
    workplace: Text | None = None

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.to_month is not None and _month_order(self.to_month) < _month_order(self.from_month):
            raise ValueError(f"to_month: {self.to_month} is before from_month {self.from_month}")
        return self


class Applicant(_Strict):
    full_name: PersonName
    personal_id: PersonalIdNumber
    sex: Sex
    date_of_birth: VnDate
    place_of_birth: Text = Field(min_length=1)
    nationality: Nationality
    permanent_residence: Address = Field(description="Nơi thường trú")
    temporary_residence: Address | None = Field(default=None, description="Nơi tạm trú")

    @model_validator(mode="after")
    def _id_matches(self) -> Self:
        _holder_of(self.personal_id, self.date_of_birth, self.sex)
        return self


class AuthorisedRequester(Requester):
    """Who asks for someone else's certificate (Mẫu 04/2024/LLTP): an authorised person, or a
    parent or guardian for a minor."""

    authorisation: Text | None = Field(
        default=None, description="The authorisation document (văn bản ủy quyền); none for a minor's parent"
    )


class CriminalRecordFiling(_Strict):
    """Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp: Mẫu 03/2024/LLTP for oneself, Mẫu 04/2024/LLTP
    (``requester`` given) through an authorised person or for a minor (TT 06/2024/TT-BTP); filed
    online by whoever asks, logged in with VNeID (whose level the procedure checks)."""

    applicant: Applicant
    requester: AuthorisedRequester | None = Field(default=None, description="Mẫu 04: who asks, if not the applicant")
    father_name: PersonName | None = None
    mother_name: PersonName | None = None
    spouse_name: PersonName | None = None
    residence_history: tuple[ResidencePeriod, ...] = Field(min_length=1, description="From the age of 14")
    certificate_type: Literal[1, 2] = Field(description="Phiếu số 1 or số 2")
    purpose: Text = Field(min_length=1, max_length=200)
    copies_requested: int = Field(default=1, ge=1, le=20, description="Phiếu wanted")

    @model_validator(mode="after")
    def _who_may_ask(self) -> Self:
        if self.requester is None:
            return self
        if self.requester.personal_id == self.applicant.personal_id:
            raise ValueError("requester: leave it out when the applicant asks for themself (Mẫu 03)")
        if self.requester.authorisation is not None and self.certificate_type == 2:
            raise ValueError("certificate_type: a Phiếu số 2 cannot be asked for through an authorised person")
        today, born = date.today(), self.applicant.date_of_birth
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if self.requester.authorisation is None and age >= 18:
            raise ValueError(
                "requester.authorisation: needed unless the applicant is a minor and the requester their parent"
            )
        return self

    @model_validator(mode="after")
    def _history_from_fourteen(self) -> Self:
        fourteen = (self.applicant.date_of_birth.year + 14, self.applicant.date_of_birth.month)
        if _month_order(self.residence_history[0].from_month) > fourteen:
            raise ValueError(
                f"residence_history: it must start by the applicant's 14th birthday ({fourteen[1]:02d}/{fourteen[0]})"
            )
        return self


FILING_MODELS: dict[str, type[BaseModel]] = {
    "birth": BirthFiling,
    "business": BusinessFiling,
    "death": DeathFiling,
    "land_transfer": LandTransferFiling,
    "criminal_record": CriminalRecordFiling,
}
"""Filing kinds a procedure may declare, by name."""
