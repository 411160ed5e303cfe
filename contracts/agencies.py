"""The agency registry: who each agency is, how the hub reaches it, and what it may send.

Ingest (who may file, withdraw, supplement, notify a payment), the action catalog (which agency
performs an action), the bridges (which agencies need a connector) and topic provisioning (one
inbox and one outbox per agency) all read this one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from contracts.events import (
    DOSSIER_FILED,
    DOSSIER_SUPPLEMENTED,
    DOSSIER_WITHDRAWN,
    PAYMENT_NOTIFIED,
)


class Transport(StrEnum):
    """How the agency's system talks to the hub."""

    KAFKA = "kafka"  # reads its inbox and writes its outbox itself
    REST = "rest"  # a REST bridge in the hub plays its part on Kafka
    SOAP = "soap"  # a SOAP bridge in the hub plays its part on Kafka
    SOAP_GATEWAY = "soap-gateway"  # legacy systems call the hub's SOAP filing gateway


FILER_EVENTS = frozenset({DOSSIER_FILED, DOSSIER_WITHDRAWN, DOSSIER_SUPPLEMENTED})
"""What a filing agency may send besides step replies: filings and citizens' requests."""


@dataclass(frozen=True)
class Agency:
    code: str
    system: str
    transport: Transport
    may_send: frozenset[str] = frozenset()
    """Event types the agency may write to its outbox besides replies to the hub's commands."""

    @property
    def bridged(self) -> bool:
        """The hub calls this agency through a connector (REST or SOAP bridge)."""
        return self.transport in (Transport.REST, Transport.SOAP)


AGENCIES: dict[str, Agency] = {
    a.code: a
    for a in (
        Agency(
            "justice",
            "civil status (hộ tịch) and criminal records (lý lịch tư pháp)",
            Transport.KAFKA,
            FILER_EVENTS,
        ),
        Agency("population", "population registry (CSDLQG về dân cư) and residence", Transport.REST),
        Agency("insurance", "social and health insurance (BHXH/BHYT)", Transport.SOAP),
        Agency("tax", "tax authority (cơ quan thuế)", Transport.KAFKA),
        Agency("payment", "payment gateway (PayGov-style)", Transport.REST, frozenset({PAYMENT_NOTIFIED})),
        Agency("portal", "one-stop shop and public-service portal (Cổng dịch vụ công)", Transport.KAFKA, FILER_EVENTS),
        Agency(
            "onestop", "legacy one-stop systems, filing through the SOAP gateway", Transport.SOAP_GATEWAY, FILER_EVENTS
        ),
    )
}
"""Every agency by code."""
