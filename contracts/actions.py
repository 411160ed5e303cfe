"""What each agency can be asked to do: the parameters and result of every action.

A procedure step names an action; the catalog checks the step's inputs against ``params``, the
agency side validates the command against ``params``, and the hub validates the reply's result
against ``result`` before any later step may use it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts import declared_actions
from contracts.agencies import REGISTRY
from contracts.errors import CatalogError
from contracts.identifiers import (
    BhytCardNumber,
    EthnicityCode,
    Nationality,
    PersonalIdNumber,
    Sex,
    TaxCode,
    check_personal_id_matches,
)
from contracts.text import PersonName, Text


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParentRef(_Model):
    full_name: PersonName
    personal_id: PersonalIdNumber


class RequesterRef(_Model):
    """Who asked for the registration (người yêu cầu), as the declaration form names them."""

    full_name: PersonName
    personal_id: PersonalIdNumber
    relationship: Text


# population: national population database and residence registry (REST)
class VerifyCitizen(_Model):
    personal_id: PersonalIdNumber
    full_name: PersonName


class CitizenRecord(_Model):
    personal_id: PersonalIdNumber
    full_name: PersonName
    date_of_birth: date
    sex: Sex
    commune_code: str = Field(pattern=r"^[0-9]{5}$")

    @model_validator(mode="after")
    def _id_matches_holder(self) -> Self:
        check_personal_id_matches(self.personal_id, self.date_of_birth, self.sex)
        return self


class CheckVneidLevel(_Model):
    personal_id: PersonalIdNumber
    minimum_level: int = Field(ge=1, le=2)


class VneidLevelConfirmed(_Model):
    personal_id: PersonalIdNumber
    vneid_level: int = Field(ge=1, le=2)


class AssignPersonalId(_Model):
    full_name: PersonName
    date_of_birth: date
    sex: Sex
    province_code: str = Field(pattern=r"^[0-9]{2}$", description="Province of birth registration")
    birth_certificate_no: str = Field(min_length=1)


class RegisterResidence(_Model):
    personal_id: PersonalIdNumber
    full_name: PersonName
    commune_code: str = Field(pattern=r"^[0-9]{5}$")
    household_member_id: PersonalIdNumber = Field(description="The parent the child lives with")


class RemoveResidence(_Model):
    personal_id: PersonalIdNumber
    death_certificate_no: str = Field(min_length=1)
    commune_code: str = Field(pattern=r"^[0-9]{5}$", description="Of the last residence: the one to remove")


class ResidenceRemoved(_Model):
    removal_id: str
    personal_id: PersonalIdNumber
    removed_at: datetime


class ResidenceRegistered(_Model):
    residence_id: str
    personal_id: PersonalIdNumber
    commune_code: str
    registered_at: datetime


# justice: civil status (hộ tịch), Kafka-native
class RegisterBirth(_Model):
    birth_notice_no: str
    child_full_name: PersonName
    child_date_of_birth: date
    child_sex: Sex
    place_of_birth: Text
    child_ethnicity: EthnicityCode
    child_nationality: Nationality
    mother: ParentRef
    father: ParentRef | None = None
    requester: RequesterRef
    commune_code: str = Field(pattern=r"^[0-9]{5}$")


class BirthRegistered(_Model):
    birth_certificate_no: str = Field(min_length=1)
    registered_at: datetime


class RegisterDeath(_Model):
    death_notice_no: str
    deceased: ParentRef
    deceased_sex: Sex
    deceased_ethnicity: EthnicityCode
    deceased_nationality: Nationality
    last_residence_commune_code: str = Field(pattern=r"^[0-9]{5}$")
    date_of_death: date
    place_of_death: Text
    cause_of_death: Text | None = None
    declarant: RequesterRef


class DeathRegistered(_Model):
    death_certificate_no: str = Field(min_length=1)
    registered_at: datetime


class ResidenceLine(_Model):
    from_month: str
    to_month: str | None = None
    address: Text
    occupation: Text | None = None
    workplace: Text | None = None


class CheckCriminalRecord(_Model):
    applicant: ParentRef
    applicant_date_of_birth: date
    applicant_sex: Sex
    place_of_birth: Text
    residence_history: tuple[ResidenceLine, ...] = Field(min_length=1, description="From the age of 14")
    certificate_type: int = Field(ge=1, le=2)
    purpose: Text
    fee_transaction_id: str


class CriminalRecordCertificate(_Model):
    certificate_no: str
    has_convictions: bool
    issued_at: datetime


# insurance: social and health insurance (BHXH/BHYT), legacy SOAP
class IssueHealthCard(_Model):
    personal_id: PersonalIdNumber
    full_name: PersonName
    date_of_birth: date
    sex: Sex
    province_code: str = Field(pattern=r"^[0-9]{2}$")


class HealthCardIssued(_Model):
    card_number: BhytCardNumber
    beneficiary_group: str = Field(pattern=r"^[A-Z]{2}$")
    valid_from: date
    valid_to: date


class AssignedPersonalId(_Model):
    personal_id: PersonalIdNumber
    full_name: PersonName
    date_of_birth: date
    sex: Sex

    @model_validator(mode="after")
    def _id_matches_holder(self) -> Self:
        check_personal_id_matches(self.personal_id, self.date_of_birth, self.sex)
        return self


class PayFuneralAllowance(_Model):
    deceased_id: PersonalIdNumber
    death_certificate_no: str = Field(min_length=1)
    beneficiary_id: PersonalIdNumber
    beneficiary_name: PersonName


class FuneralAllowancePaid(_Model):
    payment_ref: str
    amount_vnd: int = Field(gt=0)


# tax: tax authority, Kafka-native
class IssueEnterpriseCode(_Model):
    enterprise_name: Text
    province_code: str = Field(pattern=r"^[0-9]{2}$")
    representative_id: PersonalIdNumber
    main_business_line: str = Field(pattern=r"^[0-9]{4}$", description="VSIC level-4 code")
    vat_method: Literal["deduction", "direct"]


class EnterpriseCodeIssued(_Model):
    enterprise_code: TaxCode = Field(description="Also the tax code and the social-insurance unit code")
    issued_at: datetime


class ComputeLandObligations(_Model):
    """Form no. 15 (phiếu chuyển thông tin để xác định nghĩa vụ tài chính về đất đai)."""

    dossier_code: str
    complete_dossier_received_on: date
    procedure_type: str
    land_user_name: PersonName
    land_user_id: PersonalIdNumber = Field(description="Personal ID, also the personal tax code since July 2025")
    address_commune_code: str = Field(pattern=r"^[0-9]{5}$")
    parcel_no: str
    map_sheet_no: str
    land_use_purpose: Text
    declared_value_vnd: int = Field(gt=0)
    area_m2: float = Field(gt=0)


class LandObligationsNotice(_Model):
    notice_no: str
    registration_fee_vnd: int = Field(ge=0)
    personal_income_tax_vnd: int = Field(ge=0)
    land_use_fee_vnd: int = Field(ge=0)
    total_vnd: int = Field(gt=0)


class ConfirmObligations(_Model):
    notice_no: str
    transaction_id: str
    amount_vnd: int = Field(gt=0)


class ObligationsConfirmed(_Model):
    notice_no: str
    confirmed_at: datetime


# insurance: employer registration
class RegisterEmployer(_Model):
    unit_code: TaxCode
    unit_name: Text
    employees: int = Field(ge=0)


class EmployerRegistered(_Model):
    unit_code: TaxCode
    registered_at: datetime


# payment: payment gateway (PayGov-style), REST with a signed callback
class CollectPayment(_Model):
    amount_vnd: int = Field(gt=0)
    description: Text


class PaymentReceived(_Model):
    transaction_id: str
    amount_vnd: int = Field(gt=0)
    paid_at: datetime


class RefundPayment(_Model):
    transaction_id: str
    amount_vnd: int = Field(gt=0)


class PaymentRefunded(_Model):
    refund_id: str
    refunded_at: datetime


# portal: one-stop shop, Kafka-native
class ReturnResult(_Model):
    documents: dict[str, str] = Field(description="Result documents by name, e.g. birth certificate no.")


class ResultReturned(_Model):
    returned_at: datetime


@dataclass(frozen=True)
class Action:
    params: type[BaseModel]
    result: type[BaseModel]
    description: str
    creates_record: bool = True  # leaves a record at the agency (a lookup does not): undone or reversed by hand
    agency: str = ""  # filled from the agency registry's ``serves``


def _served(actions: dict[str, Action]) -> dict[str, Action]:
    """Each action with the agency the registry says performs it; every action is served."""
    return {name: replace(action, agency=REGISTRY.serving(name)) for name, action in actions.items()}


ACTIONS: dict[str, Action] = _served(
    {
        "verify_citizen": Action(
            VerifyCitizen,
            CitizenRecord,
            "Look a citizen up and check the name matches the registry",
            creates_record=False,
        ),
        "check_vneid_level": Action(
            CheckVneidLevel,
            VneidLevelConfirmed,
            "Confirm the citizen's VNeID account has at least the required level",
            creates_record=False,
        ),
        "check_criminal_record": Action(
            CheckCriminalRecord,
            CriminalRecordCertificate,
            "Check the criminal records and issue the certificate (phiếu lý lịch tư pháp)",
        ),
        "assign_personal_id": Action(AssignPersonalId, AssignedPersonalId, "Assign a personal ID number to a newborn"),
        "register_residence": Action(
            RegisterResidence, ResidenceRegistered, "Register permanent residence (đăng ký thường trú)"
        ),
        "register_birth": Action(RegisterBirth, BirthRegistered, "Register a birth and issue the e-birth certificate"),
        "register_death": Action(RegisterDeath, DeathRegistered, "Register a death and issue the e-death certificate"),
        "remove_residence": Action(
            RemoveResidence,
            ResidenceRemoved,
            "Remove a deceased citizen's permanent residence (xóa đăng ký thường trú)",
        ),
        "pay_funeral_allowance": Action(
            PayFuneralAllowance,
            FuneralAllowancePaid,
            "Pay the funeral allowance (trợ cấp mai táng) for an insured person",
        ),
        "issue_health_card": Action(
            IssueHealthCard, HealthCardIssued, "Issue a child's health-insurance card (thẻ BHYT, group TE)"
        ),
        "compute_land_obligations": Action(
            ComputeLandObligations,
            LandObligationsNotice,
            "Compute land-transfer obligations and issue the payment notice",
        ),
        "confirm_obligations": Action(
            ConfirmObligations, ObligationsConfirmed, "Confirm the financial obligations were paid"
        ),
        "issue_enterprise_code": Action(
            IssueEnterpriseCode, EnterpriseCodeIssued, "Issue the enterprise code, which is also its tax code"
        ),
        "register_employer": Action(
            RegisterEmployer, EmployerRegistered, "Register the enterprise as a social-insurance unit"
        ),
        "collect_payment": Action(
            CollectPayment,
            PaymentReceived,
            "Ask the citizen to pay; completes when the gateway's signed callback arrives",
        ),
        "refund_payment": Action(
            RefundPayment, PaymentRefunded, "Refund a payment (compensation when a dossier cannot be completed)"
        ),
        "return_result": Action(ReturnResult, ResultReturned, "Return the result documents to the citizen"),
    }
)


_DECLARED: dict[str, declared_actions.ActionDecl] = {}


def declare(name: str, table: object, origin: str) -> None:
    """Add an action a procedure file declares (:mod:`contracts.declared_actions`) to ACTIONS;
    CatalogError when it clashes with another or no Kafka-native agency serves it."""
    decl, params, result = declared_actions.parse(name, table, origin)
    where = f"{origin}: actions.{name}"
    if name in _DECLARED:
        if _DECLARED[name] != decl:
            raise CatalogError(f"{where}: declared differently in another procedure file")
        return
    if name in ACTIONS:
        raise CatalogError(f"{where}: the hub already has this action")
    try:
        agency = REGISTRY.agencies[REGISTRY.serving(name)]
    except KeyError:
        raise CatalogError(f"{where}: no agency in the registry serves it (add it to an agency's serves)") from None
    if agency.bridged:
        raise CatalogError(f"{where}: {agency.code} is called through a bridge, which needs code for a new action")
    ACTIONS[name] = Action(params, result, decl.description, decl.creates_record, agency.code)
    _DECLARED[name] = decl
