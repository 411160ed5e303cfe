"""Every Kafka topic the hub uses, declared once: name, partitions, retention or compaction.

``infra.topics`` provisions them; the hub and the sandbox agencies only name them through here.
An optional namespace (``LIENTHONG_TOPIC_NAMESPACE``) prefixes every name so several hubs or test
runs can share one cluster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from contracts.actions import AGENCIES

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    purpose: str = ""


def namespace() -> str:
    return os.environ.get("LIENTHONG_TOPIC_NAMESPACE", "")


def partitions() -> int:
    return int(os.environ.get("LIENTHONG_PARTITIONS", "4"))


def inbox(agency: str) -> str:
    """Where the hub writes commands and status updates for ``agency``."""
    return f"{namespace()}agency.{agency}.inbox"


def outbox(agency: str) -> str:
    """Where ``agency`` (or its connector) writes filings and replies for the hub."""
    return f"{namespace()}agency.{agency}.outbox"


def dossier_events() -> str:
    """Canonical events keyed by dossier code: the saga's only input."""
    return f"{namespace()}hub.dossier.events"


def deadletter() -> str:
    return f"{namespace()}hub.deadletter"


def monitor() -> str:
    return f"{namespace()}hub.monitor.transitions"


def audit() -> str:
    return f"{namespace()}hub.audit"


def all_topics() -> list[TopicSpec]:
    """Every topic to provision, with its settings."""
    n = partitions()
    week = {"retention.ms": str(7 * DAY_MS)}
    specs = []
    for agency in AGENCIES:
        specs.append(TopicSpec(inbox(agency), n, week, f"commands and status updates for {agency}"))
        specs.append(TopicSpec(outbox(agency), n, week, f"filings and replies from {agency}"))
    specs += [
        TopicSpec(dossier_events(), n, week, "canonical dossier events, keyed by dossier code"),
        TopicSpec(deadletter(), n, {"retention.ms": str(30 * DAY_MS)},
                  "undeliverable messages: original bytes, reason in headers"),
        TopicSpec(monitor(), n, week, "every state transition, for operators"),
        TopicSpec(audit(), n, {"retention.ms": "-1"},
                  "append-only record of every exchange of personal data"),
    ]
    return specs
