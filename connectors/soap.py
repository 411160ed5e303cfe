"""SOAP bridge to the legacy social and health insurance service (BHXH/BHYT) through zeep.

The WSDL is read from ``contracts/wsdl/insurance.wsdl`` (never fetched over the network); the
endpoint address comes from configuration. Calls use zeep's async transport, so the event loop is
never blocked. ``soap:Client`` faults are refusals; ``soap:Server`` faults and transport errors are
retried.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import httpx
import zeep
import zeep.exceptions
from pydantic import BaseModel
from zeep.helpers import serialize_object
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport

from connectors.base import AgencyRejected, AgencyUnavailable

NAMESPACE = "urn:lienthong:insurance:v1"


def wsdl_path() -> str:
    return str(resources.files("contracts") / "wsdl" / "insurance.wsdl")


class InsuranceConnector:
    agency = "insurance"

    def __init__(self, address: str, timeout_s: float) -> None:
        self._transport = AsyncTransport(client=httpx.AsyncClient(timeout=httpx.Timeout(timeout_s)))
        client = zeep.AsyncClient(wsdl_path(), transport=self._transport)
        # Client.create_service would return a synchronous proxy; bind the async one explicitly.
        binding = client.wsdl.bindings[f"{{{NAMESPACE}}}InsuranceBinding"]
        self._service = AsyncServiceProxy(client, binding, address=address)

    async def call(self, action: str, params: BaseModel, idempotency_key: str) -> dict[str, Any]:
        if action != "issue_health_card":
            raise AgencyRejected(f"insurance SOAP service has no operation for {action!r}")
        p = params.model_dump(mode="json")
        try:
            response = await self._service.IssueHealthInsuranceCard(
                IdempotencyKey=idempotency_key,
                PersonalId=p["personal_id"],
                FullName=p["full_name"],
                DateOfBirth=p["date_of_birth"],
                Sex=p["sex"],
                ProvinceCode=p["province_code"],
            )
        except zeep.exceptions.Fault as fault:
            if (fault.code or "").endswith("Client"):
                raise AgencyRejected(fault.message) from fault
            raise AgencyUnavailable(f"SOAP fault {fault.code}: {fault.message}") from fault
        except (httpx.TransportError, zeep.exceptions.TransportError) as exc:
            raise AgencyUnavailable(f"{type(exc).__name__}: {exc}") from exc
        card = serialize_object(response, dict)
        return {
            "card_number": card["CardNumber"],
            "beneficiary_group": card["BeneficiaryGroup"],
            "valid_from": card["ValidFrom"].isoformat(),
            "valid_to": card["ValidTo"].isoformat(),
        }

    async def aclose(self) -> None:
        await self._transport.aclose()
        self._transport.wsdl_client.close()
