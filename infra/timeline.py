"""A dossier's timeline as operators read it: its records on ``hub.monitor.transitions``, one line
per change (``lienthong status``, and the demo's timelines)."""

from __future__ import annotations

from aiokafka import TopicPartition

from connectors.kafka_client import KafkaClient, partition_for
from contracts.envelope import Envelope
from contracts.events import Transition, Transitions
from contracts.redact import mask_identifiers
from contracts.topics import Topics
from infra.topics import existing_partitions, reader


async def read_timeline(client: KafkaClient, topics: Topics, dossier_id: str) -> list[Transition]:
    """Every transition of ``dossier_id`` on the monitoring topic now, oldest first. Only the
    dossier's own partition is read (the records are keyed by its code); a record the hub wrote
    twice (the same id, after a restart) counts once."""
    consumer = reader(client)
    await consumer.start()
    try:
        partitions = await existing_partitions(consumer, topics.monitor)
        tp = TopicPartition(topics.monitor, partition_for(dossier_id.encode(), len(partitions)))
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        seen: set[str] = set()
        timeline: list[Transition] = []
        while await consumer.position(tp) < end:
            for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                if record.key != dossier_id.encode():
                    continue
                envelope = Envelope.from_bytes(record.value)
                if envelope.id not in seen:
                    seen.add(envelope.id)
                    timeline += envelope.payload(Transitions).transitions
        return timeline
    finally:
        await consumer.stop()


def status_number(t: Transition) -> str:
    """The portal status number a dossier-level transition reports."""
    return str(int(t.status)) if t.status is not None else "?"


def timeline_lines(transitions: list[Transition]) -> list[str]:
    """A table of status changes and step outcomes (a step's start is implied by its outcome), with
    identifiers masked."""
    lines = [f"{'at (UTC)':<19}  {'step':<32} {'agency':<11} {'outcome':<15} {'duration':>9}"]
    for t in transitions:
        at = t.at.strftime("%Y-%m-%d %H:%M:%S")
        if t.step is None:
            reason = f" — {mask_identifiers(t.reason)}" if t.reason else ""
            lines.append(f"{at}  → status {status_number(t)} {t.state}{reason}")
        elif t.state != "running":
            took = f"{t.duration_ms} ms" if t.duration_ms is not None else "-"
            reason = f" — {mask_identifiers(t.reason)}" if t.reason and t.state != "succeeded" else ""
            lines.append(f"{at}  {t.step:<32} {t.agency or '':<11} {t.state:<15} {took:>9}{reason}")
    return lines
