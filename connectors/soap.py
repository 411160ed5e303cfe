"""SOAP bridge to the legacy social and health insurance service (BHXH/BHYT) through zeep.

Actions map onto WSDL operations in ``_OPERATIONS``: ``issue_health_card`` →
IssueHealthInsuranceCard, ``register_employer`` → RegisterEmployer, ``pay_funeral_allowance`` → PayFuneralAllowance.

The WSDL is read from ``contracts/wsdl/insurance.wsdl`` (never fetched over the network); the
endpoint address comes from configuration. Calls use zeep's async transport, so the event loop is
never blocked. ``soap:Client`` faults are refusals; ``soap:Server`` faults and transport errors are
retried. An optional httpx ``transport`` replaces the network (aiohttp's by default,
:mod:`connectors.http_transport`; ``httpx.MockTransport`` in tests).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

import httpx
import zeep
import zeep.exceptions
from pydantic import BaseModel
from zeep.helpers import serialize_object
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport

from connectors.http_transport import TRANSPORT_ERRORS, describe, network_transport
from contracts.errors import AgencyRejected, AgencyUnavailable

NAMESPACE = "urn:lienthong:insurance:v1"

# action -> (SOAP operation, request fields from params, result from the response)
_OPERATIONS: dict[str, tuple[str, Callable[[dict], dict], Callable[[dict], dict]]] = {
    "issue_health_card": (
        "IssueHealthInsuranceCard",
        lambda p: {
            "PersonalId": p["personal_id"],
            "FullName": p["full_name"],
            "DateOfBirth": p["date_of_birth"],
            "Sex": p["sex"],
            "ProvinceCode": p["province_code"],
        },
        lambda r: {
            "card_number": r["CardNumber"],
            "beneficiary_group": r["BeneficiaryGroup"],
            "valid_from": r["ValidFrom"].isoformat(),
            "valid_to": r["ValidTo"].isoformat(),
        },
    ),
    "register_employer": (
        "RegisterEmployer",
        lambda p: {"UnitCode": p["unit_code"], "UnitName": p["unit_name"], "Employees": p["employees"]},
        lambda r: {"unit_code": r["UnitCode"], "registered_at": r["RegisteredAt"].isoformat()},
    ),
    "pay_funeral_allowance": (
        "PayFuneralAllowance",
        lambda p: {
            "DeceasedId": p["deceased_id"],
            "DeathCertificateNo": p["death_certificate_no"],
            "BeneficiaryId": p["beneficiary_id"],
            "BeneficiaryName": p["beneficiary_name"],
        },
        lambda r: {"payment_ref": r["PaymentRef"], "amount_vnd": r["AmountVnd"]},
    ),
}


def wsdl_path() -> str:
    return str(resources.files("contracts") / "wsdl" / "insurance.wsdl")


class InsuranceConnector:
    agency = "insurance"

    def __init__(self, address: str, timeout_s: float, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), transport=transport or network_transport())
        self._transport = AsyncTransport(client=http)
        client = zeep.AsyncClient(wsdl_path(), transport=self._transport)
        # Client.create_service would return a synchronous proxy; bind the async one explicitly.
        binding = client.wsdl.bindings[f"{{{NAMESPACE}}}InsuranceBinding"]
        self._service = AsyncServiceProxy(client, binding, address=address)

    async def call(self, action: str, params: BaseModel, idempotency_key: str) -> dict[str, Any]:
        if action not in _OPERATIONS:
            raise AgencyRejected(f"insurance SOAP service has no operation for {action!r}")
        operation, request, result = _OPERATIONS[action]
        try:
            response = await getattr(self._service, operation)(
                IdempotencyKey=idempotency_key, **request(params.model_dump(mode="json"))
            )
        except zeep.exceptions.Fault as fault:
            if _is_client_fault(fault.code):
                raise AgencyRejected(fault.message) from fault
            raise AgencyUnavailable(f"SOAP fault {fault.code}: {fault.message}") from fault
        except (*TRANSPORT_ERRORS, zeep.exceptions.TransportError) as exc:
            raise AgencyUnavailable(describe(exc)) from exc
        return result(serialize_object(response, dict))

    async def aclose(self) -> None:
        await self._transport.aclose()
        self._transport.wsdl_client.close()


def _is_client_fault(code: str | None) -> bool:
    """Whether a SOAP 1.1 faultcode is ``Client`` or one of its dotted refinements (``soap:Client.Auth``)."""
    return (code or "").rpartition(":")[2].split(".")[0] == "Client"
