"""Every Kafka topic the hub uses, declared once: name, partitions, retention or compaction.

A :class:`Topics` names them for one deployment: its optional namespace prefixes every name, so
several hubs or test runs can share one cluster. ``infra.topics`` provisions them; the hub, the
connectors and the sandbox agencies only name topics through a :class:`Topics`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from contracts.agencies import AGENCIES

DAY_MS = 24 * 60 * 60 * 1000
Send = Callable[[str, bytes, bytes], Awaitable[None]]
"""Writes one record, (topic, key, value): how the hub's parts are handed a producer, so tests
can hand them a list instead."""
DLQ_HEADER_PREFIX = "lienthong.dlq."
"""Dead letters keep their original key and value; why they failed travels in these headers."""


def dlq_fields(headers: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    """A dead letter's own headers (``lienthong.dlq.*``), by name without the prefix, as text."""
    return {
        k.removeprefix(DLQ_HEADER_PREFIX): v.decode(errors="replace")
        for k, v in headers
        if k.startswith(DLQ_HEADER_PREFIX)
    }


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    purpose: str = ""


@dataclass(frozen=True)
class Topics:
    """The topic names of one deployment (``namespace`` prefixes each), their partitions and
    replication factor."""

    namespace: str = ""
    partitions: int = 4
    replication: int = 1  # copies of each partition: 1 on the dev broker, 3 on a cluster

    def inbox(self, agency: str) -> str:
        """Where the hub writes commands and status updates for ``agency``."""
        return f"{self.namespace}agency.{agency}.inbox"

    def outbox(self, agency: str) -> str:
        """Where ``agency`` (or its connector) writes filings and replies for the hub."""
        return f"{self.namespace}agency.{agency}.outbox"

    def agency_group(self, agency: str, name: str) -> str:
        """A consumer group of ``agency``'s own: its principal may join only groups named so."""
        return f"{self.namespace}agency.{agency}.{name}"

    def operator_group(self, name: str) -> str:
        """A consumer group operators may use (e.g. ``kafka-console-consumer --group``)."""
        return f"{self.namespace}operator.{name}"

    @property
    def dossier_events(self) -> str:
        """Canonical events keyed by dossier code: the saga's only input."""
        return f"{self.namespace}hub.dossier.events"

    @property
    def deadletter(self) -> str:
        return f"{self.namespace}hub.deadletter"

    @property
    def monitor(self) -> str:
        return f"{self.namespace}hub.monitor.transitions"

    @property
    def exchanges(self) -> str:
        """One record per agency exchange, keyed by agency code."""
        return f"{self.namespace}hub.monitor.exchanges"

    @property
    def agencies(self) -> str:
        """Each agency's health per window, keyed by agency code."""
        return f"{self.namespace}hub.monitor.agencies"

    @property
    def alerts(self) -> str:
        """What operators should act on, keyed by its subject."""
        return f"{self.namespace}hub.monitor.alerts"

    @property
    def audit(self) -> str:
        return f"{self.namespace}hub.audit"

    @property
    def onestop_sequence(self) -> str:
        """Dossier codes claimed by the one-stop SOAP gateway (written and read by the onestop
        principal, like its outbox); one partition, so one order for every gateway instance."""
        return f"{self.namespace}agency.onestop.sequence"

    def specs(self) -> list[TopicSpec]:
        """Every topic to provision, with its settings."""
        n = self.partitions
        week = {"retention.ms": str(7 * DAY_MS)}
        specs = []
        for agency in AGENCIES:
            specs.append(TopicSpec(self.inbox(agency), n, week, f"commands and status updates for {agency}"))
            specs.append(TopicSpec(self.outbox(agency), n, week, f"filings and replies from {agency}"))
        specs += [
            TopicSpec(self.dossier_events, n, week, "canonical dossier events, keyed by dossier code"),
            TopicSpec(
                self.deadletter,
                n,
                {"retention.ms": str(30 * DAY_MS)},
                "undeliverable messages: original bytes, reason in headers",
            ),
            TopicSpec(self.monitor, n, week, "every state transition, for operators"),
            TopicSpec(self.exchanges, n, week, "one record per exchange with an agency, keyed by agency"),
            TopicSpec(self.agencies, n, week, "each agency's health per window, keyed by agency"),
            TopicSpec(self.alerts, n, week, "what operators should act on, and what to do"),
            TopicSpec(self.audit, n, {"retention.ms": "-1"}, "append-only record of every exchange of personal data"),
            TopicSpec(
                self.onestop_sequence,
                1,
                {"retention.ms": "-1"},
                "dossier codes claimed by the one-stop SOAP gateway (content digests only): its durable sequence",
            ),
        ]
        return specs
