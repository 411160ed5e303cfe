"""REST bridges over httpx: the population registry (CSDLQG về dân cư) and the payment gateway.

HTTP maps onto the connector contract: 2xx → result; 400, 404, 409 and 422 → the agency refused
(``AgencyRejected`` with the problem's ``detail``); timeouts, connection errors, 5xx and answers
that are not JSON → ``AgencyUnavailable`` (retried). Writes carry the command's idempotency key in
the ``Idempotency-Key`` header, so a retried request does not repeat the effect.

Each connector takes an optional httpx ``transport``: the real network through aiohttp by default
(:mod:`connectors.http_transport`), an ``httpx.MockTransport`` in tests.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from connectors.http_transport import TRANSPORT_ERRORS, describe, network_transport
from contracts.errors import AgencyRejected, AgencyUnavailable, ReplyLater

_ROUTES = {
    "verify_citizen": "/v1/citizens/verify",
    "assign_personal_id": "/v1/personal-ids",
    "register_residence": "/v1/residences",
    "remove_residence": "/v1/residences/removals",
    "check_vneid_level": "/v1/vneid/check",
}
_REFUSALS = {400, 404, 409, 422}


class _JsonApi:
    """POST JSON with an Idempotency-Key; map HTTP answers onto the connector contract."""

    def __init__(self, base_url: str, timeout_s: float, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=httpx.Timeout(timeout_s), transport=transport or network_transport()
        )

    async def _post(self, path: str, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        try:
            response = await self._client.post(path, json=body, headers={"Idempotency-Key": idempotency_key})
        except TRANSPORT_ERRORS as exc:
            raise AgencyUnavailable(describe(exc)) from exc
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                raise AgencyUnavailable(
                    f"HTTP {response.status_code} without a JSON body: {response.text[:200]!r}"
                ) from None
        detail = _problem_detail(response)
        if response.status_code in _REFUSALS:
            raise AgencyRejected(detail)
        raise AgencyUnavailable(f"HTTP {response.status_code}: {detail}")

    async def aclose(self) -> None:
        await self._client.aclose()


class PopulationConnector(_JsonApi):
    agency = "population"

    async def call(self, action: str, params: BaseModel, idempotency_key: str) -> dict[str, Any]:
        return await self._post(_ROUTES[action], params.model_dump(mode="json"), idempotency_key)


class PaymentConnector(_JsonApi):
    """Creates payment requests; the gateway answers later on the hub's signed callback.

    The payment reference is the command's idempotency key (``<dossier>/<step>``), so a
    re-sent request is the same payment.
    """

    agency = "payment"

    def __init__(
        self, base_url: str, timeout_s: float, callback_url: str, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(base_url, timeout_s, transport=transport)
        self._callback_url = callback_url

    async def call(self, action: str, params: BaseModel, idempotency_key: str) -> dict[str, Any]:
        body = params.model_dump(mode="json") | {"reference": idempotency_key, "callback_url": self._callback_url}
        if action == "refund_payment":
            path = f"/v1/payments/{quote(body['transaction_id'], safe='')}/refunds"
            return await self._post(path, body, idempotency_key)
        await self._post("/v1/payments", body, idempotency_key)
        raise ReplyLater


def _problem_detail(response: httpx.Response) -> str:
    """The ``detail`` of an RFC 9457 problem document, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    return str(body.get("detail") or body.get("title") or body) if isinstance(body, dict) else str(body)[:200]
