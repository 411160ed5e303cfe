"""What every bridge shares: the connector protocol, its two kinds of failure, and retries.

A connector performs one :class:`~contracts.events.StepCommand` against its agency and returns the
result, or raises :class:`AgencyRejected` (the agency refused on the facts: not retried) or
:class:`AgencyUnavailable` (the exchange failed: retried with exponential backoff).
:func:`perform` turns either into a :class:`~contracts.events.StepReply`, so a bridge always
answers and the saga always moves.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import structlog
from pydantic import ValidationError

from contracts.actions import ACTIONS
from contracts.envelope import describe_error
from contracts.errors import AgencyRejected, AgencyUnavailable, ReplyLater
from contracts.events import Outcome, StepCommand, StepReply

log = structlog.get_logger("lienthong.connectors")


class Connector(Protocol):
    agency: str

    async def call(self, action: str, params: Any, idempotency_key: str) -> dict[str, Any]:
        """Perform ``action`` with validated ``params``; return the agency's result."""
        ...

    async def aclose(self) -> None: ...


async def perform(
    connector: Connector,
    command: StepCommand,
    idempotency_key: str,
    *,
    attempts: int,
    backoff_s: float,
) -> StepReply | None:
    """Validate the command, call the agency with retries, and say how it went (None: the agency
    accepted it and its answer will come through a callback)."""

    def reply(outcome: Outcome, result: dict[str, Any] | None = None, reason: str | None = None) -> StepReply:
        return StepReply(
            step=command.step,
            action=command.action,
            agency=command.agency,
            outcome=outcome,
            result=result or {},
            reason=reason,
        )

    action = ACTIONS.get(command.action)
    if action is None or action.agency != connector.agency:
        return reply(Outcome.REJECTED, reason=f"{connector.agency} does not perform {command.action!r}")
    try:
        params = action.params.model_validate(command.params)
    except ValidationError as exc:
        return reply(Outcome.REJECTED, reason=f"invalid {command.action} request: {describe_error(exc)}")
    for attempt in range(1, attempts + 1):
        try:
            return reply(Outcome.SUCCEEDED, await connector.call(command.action, params, idempotency_key))
        except AgencyRejected as exc:
            return reply(Outcome.REJECTED, reason=str(exc))
        except ReplyLater:
            return None
        except AgencyUnavailable as exc:
            if attempt == attempts:
                return reply(Outcome.FAILED, reason=f"{connector.agency} unavailable after {attempts} attempts: {exc}")
            delay = backoff_s * 2 ** (attempt - 1)
            log.warning(
                "agency call failed, retrying",
                agency=connector.agency,
                action=command.action,
                attempt=attempt,
                retry_in_s=delay,
                error=str(exc),
            )
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")
