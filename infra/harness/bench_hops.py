"""Latency per hop of a bench run, from the timestamps of the records on the agencies' topics.

Every record carries the time its producer wrote it, and every envelope the hub or an agency
writes names the event that caused it (``causationid``), so each hop of a dossier can be timed
from the topics alone, for any number of workers:

* **filing → first command**: the filing on the filer's outbox to the first step command the hub
  wrote for that dossier (ingest, the saga's first transition);
* **reply → next record**: an agency's reply on its outbox to the first record the hub wrote
  because of it on an inbox, a command or a status (ingest, the saga applying the reply);
* **command → reply**: a step command on an inbox to the reply it caused on the agency's outbox
  (the agency, and the hub's bridge for REST and SOAP agencies): the agencies' time, not the hub's.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from connectors.kafka_client import KafkaClient
from contracts.agencies import AGENCIES
from contracts.envelope import Envelope
from contracts.events import DOSSIER_FILED, STEP_COMMAND, STEP_REPLY
from contracts.topics import Topics
from infra.topics import read_to_end

HUB_HOPS = ("filing → first command", "reply → next record")
AGENCY_HOP = "command → reply"


@dataclass(frozen=True)
class Stamped:
    """One record of a dossier: where it was (an ``inbox`` or an ``outbox``), when, and what."""

    box: str
    at_ms: int
    envelope: Envelope | None  # None: a filing in the agency's own format


def hops(records: Iterable[Stamped]) -> dict[str, list[float]]:
    """Milliseconds per hop over one dossier's records (see the module's docstring)."""
    records = sorted(records, key=lambda r: r.at_ms)
    by_id = {r.envelope.id: r for r in records if r.envelope is not None}
    out: dict[str, list[float]] = defaultdict(list)
    filed = next((r for r in records if r.box == "outbox" and _is_filing(r)), None)
    commands = [r for r in records if r.box == "inbox" and r.envelope and r.envelope.type == STEP_COMMAND]
    if filed is not None and commands:
        out["filing → first command"].append(commands[0].at_ms - filed.at_ms)
    answered: set[str] = set()
    for record in records:
        envelope = record.envelope
        cause = by_id.get(envelope.causationid or "") if envelope is not None else None
        if envelope is None or cause is None or cause.envelope is None:
            continue
        if record.box == "inbox" and cause.box == "outbox" and cause.envelope.type == STEP_REPLY:
            if cause.envelope.id not in answered:  # the first record the reply caused
                answered.add(cause.envelope.id)
                out["reply → next record"].append(record.at_ms - cause.at_ms)
        elif record.box == "outbox" and envelope.type == STEP_REPLY and cause.box == "inbox":
            out[AGENCY_HOP].append(record.at_ms - cause.at_ms)
    return out


def _is_filing(record: Stamped) -> bool:
    return record.envelope is None or record.envelope.type == DOSSIER_FILED


async def run_hops(
    client: KafkaClient, topics: Topics, dossiers: set[str], timeout_s: float = 120
) -> dict[str, list[float]]:
    """Every hop of ``dossiers``, read back from every agency's inbox and outbox."""
    boxes = {topics.inbox(code): "inbox" for code in AGENCIES} | {topics.outbox(code): "outbox" for code in AGENCIES}
    per_dossier: dict[str, list[Stamped]] = defaultdict(list)
    async for record in read_to_end(client, boxes, timeout_s):
        key = (record.key or b"").decode(errors="replace")
        if key in dossiers and record.value:
            envelope = Envelope.from_bytes(record.value) if b'"specversion"' in record.value else None
            per_dossier[key].append(Stamped(boxes[record.topic], record.timestamp, envelope))
    out: dict[str, list[float]] = defaultdict(list)
    for records in per_dossier.values():
        for hop, values in hops(records).items():
            out[hop].extend(values)
    return out


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(measured: dict[str, list[float]]) -> str:
    """One line: p50 and p99 of each hop, with how many were timed."""
    parts = []
    for hop in (*HUB_HOPS, AGENCY_HOP):
        values = measured.get(hop, [])
        if values:
            parts.append(
                f"{hop} {statistics.median(values):.0f} / {percentile(values, 0.99):.0f} ms ({len(values)} timed)"
            )
    return "hops p50 / p99: " + "; ".join(parts)


def p99_hub_hop(measured: dict[str, list[float]]) -> float:
    """The slowest of the hub's own hops at the 99th percentile."""
    return max((percentile(measured[hop], 0.99) for hop in HUB_HOPS if measured.get(hop)), default=float("nan"))
