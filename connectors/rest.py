"""REST bridge to the population registry (CSDLQG về dân cư) over httpx.

HTTP maps onto the connector contract: 2xx → result; 404, 409 and 422 → the agency refused
(``AgencyRejected`` with the problem's ``detail``); timeouts, connection errors and 5xx →
``AgencyUnavailable`` (retried). Writes carry the command's idempotency key in the
``Idempotency-Key`` header, so a retried request does not repeat the effect.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel

from connectors.base import AgencyRejected, AgencyUnavailable

_ROUTES = {
    "verify_citizen": "/v1/citizens/verify",
    "assign_personal_id": "/v1/personal-ids",
    "register_residence": "/v1/residences",
    "remove_residence": "/v1/residences/removals",
}
_REFUSALS = {400, 404, 409, 422}


class PopulationConnector:
    agency = "population"

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(timeout_s))

    async def call(self, action: str, params: BaseModel, idempotency_key: str) -> dict[str, Any]:
        try:
            response = await self._client.post(
                _ROUTES[action],
                json=params.model_dump(mode="json"),
                headers={"Idempotency-Key": idempotency_key},
            )
        except httpx.TransportError as exc:
            raise AgencyUnavailable(f"{type(exc).__name__}: {exc or 'no detail'}") from exc
        if response.is_success:
            return response.json()
        detail = _problem_detail(response)
        if response.status_code in _REFUSALS:
            raise AgencyRejected(detail)
        raise AgencyUnavailable(f"HTTP {response.status_code}: {detail}")

    async def aclose(self) -> None:
        await self._client.aclose()


def _problem_detail(response: httpx.Response) -> str:
    """The ``detail`` of an RFC 9457 problem document, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    return str(body.get("detail") or body.get("title") or body)
