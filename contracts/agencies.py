"""The agency registry, read from ``contracts/agencies.toml`` (or the deployment's file named by
``LIENTHONG_REGISTRY_FILE``): who each agency is, how it connects,
what it serves, what it may file, withdraw and supplement, and which keys sign its messages.

Ingest (who may send what), the saga (who may withdraw or supplement which dossier), the action
catalog (which agency performs an action), the bridges, topic provisioning and the broker ACLs
all read this one table.
"""

from __future__ import annotations

import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.envelope import describe_error
from contracts.errors import CatalogError
from contracts.events import DOSSIER_FILED, DOSSIER_SUPPLEMENTED, DOSSIER_WITHDRAWN, PAYMENT_NOTIFIED
from contracts.retry import RetryPolicy

REGISTRY_FILE = Path(__file__).with_name("agencies.toml")
EVERY_PROCEDURE = "*"


class Transport(StrEnum):
    """How the agency's system talks to the hub."""

    KAFKA = "kafka"  # reads its inbox and writes its outbox itself
    REST = "rest"  # a REST bridge in the hub plays its part on Kafka
    SOAP = "soap"  # a SOAP bridge in the hub plays its part on Kafka
    SOAP_GATEWAY = "soap-gateway"  # legacy systems call the hub's SOAP filing gateway


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Party(_Entry):
    """The hub itself or the operators: a principal and the keys that sign for it."""

    principal: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    keys: tuple[str, ...] = ()


class Agency(_Entry):
    code: str
    name: str
    system: str
    transport: Transport
    principal: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]*$")
    serves: frozenset[str] = frozenset()
    keys: tuple[str, ...] = ()
    file: frozenset[str] = frozenset()
    withdraw: frozenset[str] = frozenset()
    supplement: frozenset[str] = frozenset()
    on_behalf_of_citizen: bool = False
    notifies_payments: bool = False
    retry: dict[str, float] = Field(default_factory=dict, description="overrides of the hub's RetryPolicy")

    @model_validator(mode="after")
    def _retry_overrides_a_policy(self) -> Agency:
        RetryPolicy().overridden(self.retry)  # unknown names and invalid values fail here, at load
        return self

    @model_validator(mode="after")
    def _connects_as_its_transport_says(self) -> Agency:
        if self.bridged and (self.principal or self.keys):
            raise ValueError("a bridged agency has no principal or keys of its own: the hub plays its part")
        if not self.bridged and not (self.principal and self.keys):
            raise ValueError(f"a {self.transport} agency needs a principal and at least one signing key")
        return self

    @property
    def bridged(self) -> bool:
        """The hub calls this agency through a connector (REST or SOAP bridge)."""
        return self.transport in (Transport.REST, Transport.SOAP)

    @property
    def may_send(self) -> frozenset[str]:
        """Event types the agency may write to its outbox besides replies to the hub's commands."""
        kinds = {
            DOSSIER_FILED: self.file,
            DOSSIER_WITHDRAWN: self.withdraw,
            DOSSIER_SUPPLEMENTED: self.supplement,
            PAYMENT_NOTIFIED: self.notifies_payments,
        }
        return frozenset(kind for kind, allowed in kinds.items() if allowed)

    def may(self, request: str, procedure: str) -> bool:
        """Whether the agency may ``request`` (file, withdraw, supplement) dossiers of ``procedure``."""
        allowed: frozenset[str] = getattr(self, request)
        return EVERY_PROCEDURE in allowed or procedure in allowed


class Registry(_Entry):
    hub: Party
    operator: Party
    agencies: dict[str, Agency]

    @model_validator(mode="before")
    @classmethod
    def _codes_from_tables(cls, data: Any) -> Any:
        agencies = data.get("agencies") if isinstance(data, dict) else None
        if isinstance(agencies, dict) and all(isinstance(a, dict) for a in agencies.values()):
            data = {**data, "agencies": {code: {"code": code, **a} for code, a in agencies.items()}}
        return data

    @model_validator(mode="after")
    def _one_agency_per_action_and_principal(self) -> Registry:
        served: dict[str, str] = {}
        for agency in self.agencies.values():
            for action in agency.serves:
                if action in served:
                    raise ValueError(f"action {action!r} is served by both {served[action]!r} and {agency.code!r}")
                served[action] = agency.code
        principals = [self.hub.principal, self.operator.principal] + [
            a.principal for a in self.agencies.values() if a.principal
        ]
        if len(set(principals)) != len(principals):
            raise ValueError("every principal connects for one party only")
        return self

    def outbox_keys(self, code: str) -> tuple[str, ...]:
        """The keys that sign what arrives on agency ``code``'s outbox: its own, or for a bridged
        agency the hub's (its bridge, or the hub's callback endpoint, writes it)."""
        agency = self.agencies[code]
        return self.hub.keys if agency.bridged or agency.notifies_payments else agency.keys

    def serving(self, action: str) -> str:
        """The code of the agency that performs ``action``."""
        for agency in self.agencies.values():
            if action in agency.serves:
                return agency.code
        raise KeyError(action)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path.name}: {exc}") from None


def load_registry(path: Path = REGISTRY_FILE) -> Registry:
    """Read and check a registry file; a broken one raises CatalogError naming the field.

    A deployment's file either lists every party, or says ``extends_shipped = true`` and lists only
    the agencies it adds to the shipped registry (its hub and operator are the shipped ones)."""
    data = _read(path)
    if data.pop("extends_shipped", False) is True:
        shipped = _read(REGISTRY_FILE)
        added = data.get("agencies", {})
        if clash := sorted(set(added) & set(shipped["agencies"])):
            raise CatalogError(f"{path.name}: agencies.{clash[0]}: already in the shipped registry")
        data = {**shipped, **data, "agencies": {**shipped["agencies"], **added}}
    try:
        return Registry.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(f"{path.name}: {describe_error(exc)}") from None


REGISTRY_ENV = "LIENTHONG_REGISTRY_FILE"
"""The deployment's registry file, read once when this module loads (default: the shipped one)."""
REGISTRY = load_registry(Path(os.environ.get(REGISTRY_ENV) or REGISTRY_FILE))
AGENCIES: dict[str, Agency] = REGISTRY.agencies
"""Every agency by code."""
