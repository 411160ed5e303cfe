"""Actions declared in a procedure file: a deployment adds what a new agency performs without code.

A procedure file may carry ``[actions.<name>]`` tables next to its steps::

    [actions.grant_funeral_support]
    description = "Decide and pay the funeral support for a social-protection beneficiary"
    creates_record = true                     # default; false for a lookup
    params = { deceased_id = "personal_id", death_certificate_no = "string" }
    result = { decision_no = "string", amount_vnd = { type = "integer", ge = 1 } }

Each field is a type name or a table (``type``, and optionally ``optional``, ``pattern``, ``ge``,
``le``, ``description``); the types are the contracts' own (a personal ID is checked as every
other personal ID is). The agency that performs the action is the one whose ``serves`` names it
in the registry. An action is declared once: the same declaration again (the catalog loaded
twice) is the same action, a different one is an error.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from contracts.envelope import describe_error
from contracts.errors import CatalogError
from contracts.identifiers import PersonalIdNumber, Sex, TaxCode
from contracts.text import PersonName, Text

TYPES: dict[str, Any] = {
    "string": Annotated[str, Field(min_length=1, max_length=500)],
    "text": Text,
    "integer": int,
    "number": float,
    "boolean": bool,
    "date": date,
    "datetime": datetime,
    "personal_id": PersonalIdNumber,
    "person_name": PersonName,
    "tax_code": TaxCode,
    "sex": Sex,
    "commune_code": Annotated[str, Field(pattern=r"^[0-9]{5}$")],
    "province_code": Annotated[str, Field(pattern=r"^[0-9]{2}$")],
}


TypeName = Literal[tuple(TYPES)]  # type: ignore[valid-type]


class FieldDecl(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: TypeName  # type: ignore[valid-type]
    optional: bool = False
    pattern: str | None = None
    ge: float | None = None
    le: float | None = None
    description: str | None = None


class ActionDecl(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(min_length=1)
    creates_record: bool = True
    params: dict[str, TypeName | FieldDecl] = Field(min_length=1)  # type: ignore[valid-type]
    result: dict[str, TypeName | FieldDecl] = Field(min_length=1)  # type: ignore[valid-type]


def _model(name: str, fields: dict[str, Any]) -> type[BaseModel]:
    definitions: dict[str, Any] = {}
    for field, spec in fields.items():
        decl = FieldDecl(type=spec) if isinstance(spec, str) else spec
        constraints: dict[str, Any] = {
            k: v for k, v in (("pattern", decl.pattern), ("ge", decl.ge), ("le", decl.le)) if v is not None
        }
        base: Any = TYPES[decl.type]
        annotation: Any = Annotated[base, Field(description=decl.description, **constraints)]
        definitions[field] = (annotation | None, None) if decl.optional else (annotation, ...)
    return create_model(name, __config__=ConfigDict(extra="forbid", frozen=True), **definitions)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def parse(name: str, table: Any, origin: str) -> tuple[ActionDecl, type[BaseModel], type[BaseModel]]:
    """The declaration of action ``name`` and its params and result models; CatalogError names the field."""
    try:
        decl = ActionDecl.model_validate(table)
        return decl, _model(f"{_camel(name)}Params", decl.params), _model(f"{_camel(name)}Result", decl.result)
    except ValidationError as exc:
        raise CatalogError(f"{origin}: actions.{name}: {describe_error(exc)}") from None
    except (TypeError, ValueError) as exc:  # a constraint the type cannot take, e.g. ge on a date
        raise CatalogError(f"{origin}: actions.{name}: {exc}") from None
