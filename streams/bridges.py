"""Bridges: for each agency reached over SOAP or REST, read its inbox, call it, write its outbox.

The connector (``connectors/``) does the calling; this module only moves messages. Each bridge
runs ``LIENTHONG_BRIDGE_CONCURRENCY`` calls at a time, so one slow agency call does not hold up
the partition behind it. Which agencies are bridged is the agency registry's ``transport``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import mode
import structlog
from circuitbreaker import CircuitBreaker
from faust.types import EventT
from pydantic import ValidationError

from connectors.base import Connector, perform
from connectors.rest import PaymentConnector, PopulationConnector
from connectors.soap import InsuranceConnector
from contracts.agencies import AGENCIES
from contracts.envelope import Envelope, describe_error
from contracts.errors import AgencyUnavailable, Refused
from contracts.events import STEP_COMMAND, STEP_REPLY, StepCommand
from streams.deadletter import guarded_agent
from streams.settings import HubSettings

if TYPE_CHECKING:
    from streams.app import ConnectorFactory, Hub

log = structlog.get_logger("lienthong.bridge")


def default_connectors(settings: HubSettings) -> dict[str, ConnectorFactory]:
    """A connector factory for every bridged agency, pointed at the configured endpoints."""
    timeout = settings.agency_timeout_s
    return {
        "population": lambda: PopulationConnector(settings.population_url, timeout),
        "insurance": lambda: InsuranceConnector(settings.insurance_url, timeout),
        "payment": lambda: PaymentConnector(settings.payment_url, timeout, settings.payment_callback_url),
    }


def command_of(agency: str, raw: bytes) -> tuple[Envelope, StepCommand]:
    """The envelope and step command in an inbox record; Refused says why it is not one."""
    try:
        envelope = Envelope.from_bytes(raw)
        if envelope.type != STEP_COMMAND:
            raise Refused(f"{agency} accepts only step commands, got {envelope.type!r}")
        command = envelope.payload(StepCommand)
    except ValidationError as exc:
        raise Refused(f"invalid command: {describe_error(exc)}") from None
    if not envelope.idempotencykey:
        raise Refused("command has no idempotencykey")
    return envelope, command


def breaker(agency: str, settings: HubSettings) -> CircuitBreaker:
    """The circuit breaker in front of ``agency``, as its retry policy says."""
    policy = settings.retry_policy(agency)
    return CircuitBreaker(
        failure_threshold=policy.breaker_failures,
        recovery_timeout=policy.breaker_reset_s,
        expected_exception=AgencyUnavailable,
        name=f"agency.{agency}",
    )


class _Connectors(mode.Service):
    """Opens each connector on first use inside the worker's loop; closes them when it stops."""

    def __init__(self, factories: Mapping[str, ConnectorFactory], settings: HubSettings, **kwargs) -> None:
        super().__init__(**kwargs)
        self._factories = factories
        self._open: dict[str, Connector] = {}
        self.breakers = {agency: breaker(agency, settings) for agency in factories}

    def get(self, agency: str) -> Connector:
        if agency not in self._open:
            self._open[agency] = self._factories[agency]()
        return self._open[agency]

    async def on_stop(self) -> None:
        for opened in self._open.values():
            await opened.aclose()


def register(hub: Hub, factories: Mapping[str, ConnectorFactory]) -> Mapping[str, CircuitBreaker]:
    """One agent per bridged agency's inbox; returns each agency's circuit breaker."""
    if missing := sorted(code for code, a in AGENCIES.items() if a.bridged and code not in factories):
        raise ValueError(f"no connector for bridged agency {', '.join(missing)}")
    connectors = _Connectors(factories, hub.settings)
    # Faust starts and stops a service instance with the app, though its stubs name only classes.
    hub.app.service(connectors)  # type: ignore[arg-type]
    settings = hub.settings
    calls = hub.metrics.agency_calls

    for agency in factories:

        async def bridge_one(event: EventT, agency: str = agency) -> None:
            envelope, command = command_of(agency, event.value)
            started = time.monotonic()
            reply = await perform(
                connectors.get(agency),
                command,
                envelope.idempotencykey or "",
                attempts=settings.agency_attempts,
                backoff_s=settings.agency_backoff_s,
                breaker=connectors.breakers[agency],
            )
            outcome = "later" if reply is None else reply.outcome.value
            calls.labels(agency, command.action, outcome).observe(time.monotonic() - started)
            bound = log.bind(
                agency=agency,
                action=command.action,
                step=command.step,
                dossier_id=envelope.subject,
                correlation_id=envelope.correlationid,
            )
            if reply is None:
                bound.info("agency accepted, answer will come by callback")
                return
            out = envelope.caused(
                source=f"/connector/{agency}", type=STEP_REPLY, data=reply, idempotencykey=envelope.idempotencykey
            )
            await hub.send(hub.topics.outbox(agency), event.message.key, out.to_bytes())
            bound.info("agency called", outcome=reply.outcome.value)

        guarded_agent(
            hub,
            hub.topics.inbox(agency),
            f"bridge-{agency}",
            f"bridge.{agency}",
            bridge_one,
            concurrency=settings.bridge_concurrency,
        )
    return connectors.breakers
