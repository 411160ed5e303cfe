"""What every bridge shares: the connector protocol, its two kinds of failure, and retries.

A connector performs one :class:`~contracts.events.StepCommand` against its agency and returns the
result, or raises :class:`AgencyRejected` (the agency refused on the facts: not retried) or
:class:`AgencyUnavailable` (the exchange failed). :func:`perform` tries a few times quickly (a
blip), then answers ``failed`` and the saga sends the command again later
(:mod:`contracts.retry`); either way it turns the outcome into a
:class:`~contracts.events.StepReply`, so a bridge always answers and the saga always moves.

Each bridged agency sits behind a circuit breaker (the well-kept ``circuitbreaker`` package:
asyncio-native, no global state unless asked, small): after ``breaker_failures`` consecutive
failed calls it opens and calls fail fast, without reaching the agency; after
``breaker_reset_s`` it lets calls through again (half-open: at most the bridge's concurrency)
and the first failure opens it again, the first success closes it. An agency coming back from
an outage is not flooded by every dossier that waited for it.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import structlog
from circuitbreaker import CircuitBreaker
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
    breaker: CircuitBreaker | None = None,
) -> StepReply | None:
    """Validate the command, call the agency (through ``breaker``) with quick retries, and say how
    it went (None: the agency accepted it and its answer will come through a callback)."""

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
        if breaker is not None and breaker.opened:
            resume = f"calls resume in {breaker.open_remaining} s"
            return reply(Outcome.FAILED, reason=f"{connector.agency} circuit open after repeated failures; {resume}")
        args = (command.action, params, idempotency_key)
        try:
            result = await (breaker.call_async(connector.call, *args) if breaker else connector.call(*args))
            return reply(Outcome.SUCCEEDED, result)
        except AgencyRejected as exc:
            return reply(Outcome.REJECTED, reason=str(exc))
        except ReplyLater:
            return None
        except AgencyUnavailable as exc:
            if breaker is not None and breaker.opened:
                log.error("circuit opened", agency=connector.agency, resume_in_s=breaker.open_remaining)
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
